"""A token-weighted SFT loss: the verdict tokens of a critic answer count `weight` times.

A "grids"/"arrivals" answer writes ~200-330 tokens of reading before one verdict word (`ok|bad`)
and one JSON boolean; in a plain mean over answer tokens the decision gets <1% of the gradient,
and a tiny model learned to read the grids (cells right 0.98) without ever learning the verdict
(issue 10). Weighting the decision tokens is the standard fix (as class weights are for a
classifier); `weight` 1 is trl's plain mean. Until the model reads, the verdict cannot be predicted and
its weighted gradient is noise on every shared parameter (the vision tower included): the weight
can start at a later step (`verdict_weight_from_step`), after reading has been learned.
"""
from __future__ import annotations

VERDICT_WORDS = (" ok", " bad", " true", " false")  # the think's last word and the JSON boolean


def verdict_token_ids(tokenizer) -> list[int]:
    """The ids the tokenizer writes for the verdict words in an answer (the last token of each word)."""
    ids = []
    for word in VERDICT_WORDS:
        encoded = tokenizer.encode(word, add_special_tokens=False)
        if encoded:
            ids.append(encoded[-1])
    return sorted(set(ids))


def weighted_loss(token_ids: list[int], weight: float):
    """loss_fn(outputs, labels): mean next-token cross-entropy over answer tokens, verdict tokens x weight."""
    import torch

    ids = torch.tensor(token_ids, dtype=torch.long)

    def loss_fn(outputs, labels, num_items_in_batch=None):
        logits = outputs.logits[:, :-1].float()
        target = labels[:, 1:].to(logits.device)
        valid = target != -100
        ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.clamp(min=0).reshape(-1),
                                               reduction="none").view_as(target)
        weights = valid.float() * (1.0 + (weight - 1.0) * torch.isin(target, ids.to(target.device)).float())
        return (ce * weights).sum() / weights.sum().clamp(min=1.0)

    return loss_fn


def weighted_sft_trainer(token_ids: list[int], weight: float, from_step: int = 0):
    """An SFTTrainer subclass whose loss is `weighted_loss` from step `from_step` on and the plain mean
    before it (a curriculum: read first, then judge). One forward per step (trl's `compute_loss_func`
    path runs a second one for its metrics)."""
    from trl import SFTTrainer

    plain, weighted = weighted_loss(token_ids, 1.0), weighted_loss(token_ids, weight)

    class VerdictWeightedSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs["labels"]
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False)
            loss_fn = weighted if self.state.global_step >= from_step else plain
            loss = loss_fn(outputs, labels)
            return (loss, outputs) if return_outputs else loss

    return VerdictWeightedSFTTrainer
