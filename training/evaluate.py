"""Evaluating a trained critic on a held-out split: greedy verdicts, teacher-forced AUC, reward terms.

- Greedy answers (what the loop would see) give accuracy, precision/recall (positive class:
  the step failed), per fault type, and the share of answers in format.
- A teacher-forced score measures the decision even when greedy decoding answers the
  majority class: after the model's own answer prefix up to `"previous_step_success":`
  (a fixed neutral prefix if its answer never got there), score = log p(" false") -
  log p(" true"); its ROC AUC against the ground truth is reported.
- With critic-rl rows, the mean of every reward term on the greedy answers (rewards.py).
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from interleave_robot.backends.vlm_transformers import apply_position_scheme
from interleave_robot.errors import CheckpointNotFoundError

from interleave_robot.training.formatting import GRID_STYLES, critic_prompt_for, load_split
from interleave_robot.training.grids import cell_accuracy, field_accuracy, read_grids
from interleave_robot.training.modeling import load_processor
from interleave_robot.training.metrics import binary_metrics, bootstrap_interval, per_fault_metrics, roc_auc
from interleave_robot.training.prompts import AGENT_FILE, PLAIN_THINK, VERDICT_KEY, PromptConfig
from interleave_robot.training.rewards import TERMS, SimRewards, combine, read_verdict

# Function-level imports here are only torch, transformers and trl (heavy, optional: the [train] extra).

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "<think>" + PLAIN_THINK + "</think><answer>{" + VERDICT_KEY.rstrip()


def prompt_config_for(model_dir: Path) -> PromptConfig:
    """The prompt settings a checkpoint was trained with (its AGENT_FILE), or the packaged defaults."""
    path = Path(model_dir) / AGENT_FILE
    if not path.is_file():
        return PromptConfig()
    data = json.loads(path.read_text())
    return PromptConfig(critic_template=data.get("template", ""), answer_style=data.get("answer_style", "plain"))


class CriticScorer:
    """A checkpoint loaded for batched greedy answers and teacher-forced verdict scores."""

    def __init__(self, model_dir: str | Path, processor: str = "image-only", device: str = "cpu"):
        import torch
        from transformers import AutoModelForImageTextToText

    
        self.dir = Path(model_dir)
        if not (self.dir / "config.json").is_file():
            raise CheckpointNotFoundError(f"no checkpoint at {self.dir}")
        self.prompts = prompt_config_for(self.dir)
        self.processor = load_processor(self.dir, processor)
        self.model = AutoModelForImageTextToText.from_pretrained(
            self.dir, use_safetensors=True, local_files_only=True).to(device).eval()
        apply_position_scheme(self.model)  # the scheme the checkpoint records (as the critic backend does)
        self.device = device
        self.torch = torch

    def _texts(self, rows: list[dict]) -> list[str]:
        return [self.processor.apply_chat_template(critic_prompt_for(r, self.prompts), add_generation_prompt=True,
                                                   tokenize=False) for r in rows]

    def greedy(self, rows: list[dict], max_new_tokens: int | None = None) -> list[str]:
        # A "grids" answer writes two 64-cell grids before the verdict (~230 tokens).
        # An "arrivals" answer writes three (~300 tokens).
        max_new_tokens = max_new_tokens or {"grids": 320, "arrivals": 400}.get(self.prompts.answer_style, 96)
        inputs = self.processor(text=self._texts(rows), images=[r["images"] for r in rows], padding=True,
                                padding_side="left", return_tensors="pt").to(self.device)
        with self.torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        return self.processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    def _logprob(self, rows: list[dict], prefixes: list[str], continuation: str) -> list[float]:
        """Sum of log p(continuation tokens) after prompt + prefix, for each row."""
        torch = self.torch
        heads = [t + p for t, p in zip(self._texts(rows), prefixes)]
        images = [r["images"] for r in rows]
        full = self.processor(text=[h + continuation for h in heads], images=images, padding=True,
                              padding_side="right", return_tensors="pt").to(self.device)
        head = self.processor(text=heads, images=images, padding=True, padding_side="right", return_tensors="pt")
        head_len = head["attention_mask"].sum(1).tolist()
        full_len = full["attention_mask"].sum(1).tolist()
        with torch.inference_mode():
            logits = self.model(**full).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        ids = full["input_ids"][:, 1:]
        scores = []
        for i in range(len(rows)):
            positions = range(head_len[i] - 1, full_len[i] - 1)
            scores.append(float(sum(logp[i, p, ids[i, p]] for p in positions)))
        return scores

    def verdict_scores(self, rows: list[dict], answers: list[str]) -> list[float]:
        """log p(" false") - log p(" true") at the verdict, after each answer's own prefix."""
        key = VERDICT_KEY.rstrip()
        prefixes = [a[:a.index(key) + len(key)] if key in a else DEFAULT_PREFIX for a in answers]
        p_false = self._logprob(rows, prefixes, " false")
        p_true = self._logprob(rows, prefixes, " true")
        return [f - t for f, t in zip(p_false, p_true)]


def evaluate_critic(model_dir: str | Path, data_dir: str | Path, split: str = "test", max_rows: int | None = None,
                    batch_size: int = 16, reward_config=None, progress: bool = True) -> dict:
    """All critic metrics of `model_dir` on a split; reward terms too when `reward_config` is given."""

    ds = load_split(data_dir, split, max_rows)
    scorer = CriticScorer(model_dir)
    answers, scores = [], []
    for start in tqdm(range(0, len(ds), batch_size), desc="critic eval", file=sys.stderr, disable=not progress):
        rows = [ds[i] for i in range(start, min(start + batch_size, len(ds)))]
        batch_answers = scorer.greedy(rows)
        answers += batch_answers
        scores += scorer.verdict_scores(rows, batch_answers)
    result = summarize(list(ds["success"]), list(ds["fault"]), answers, scores)
    result.update(model=str(model_dir), data=str(data_dir), split=split, examples=answers[:5])
    style = scorer.prompts.answer_style
    if style in GRID_STYLES and "grids" in ds.column_names:
        result["grid_cell_accuracy"] = grid_reading(answers, list(ds["grids"]))
        thinks = [a.split("<think>", 1)[-1].split("</think>", 1)[0] for a in answers]
        result["think_field_accuracy"] = field_accuracy(thinks, list(ds["grids"]), list(ds["success"]), style)
    if reward_config is not None:
        result["reward_terms"] = reward_term_means(ds, answers, reward_config)
    return result


def grid_reading(answers: list[str], records: list[str]) -> dict:
    """How well the written grids match the true ones: cells right, before and after image."""
    scores = {"before": [], "after": []}
    for answer, record in zip(answers, records):
        truth = json.loads(record)
        think = answer.split("<think>", 1)[-1].split("</think>", 1)[0]
        written = read_grids(think)
        for name, grid in zip(("before", "after"), written + [""] * (2 - len(written))):
            acc = cell_accuracy(grid, truth[name])
            scores[name].append(0.0 if acc is None else acc)
    return {k: sum(v) / max(1, len(v)) for k, v in scores.items()}


def summarize(success: list[bool], faults: list[str], answers: list[str], scores: list[float] | None = None) -> dict:
    """Metrics from known answers (texts) and optional teacher-forced scores."""
    verdicts = [read_verdict(a)[0] for a in answers]
    pred_failed = [None if v is None else not v.success for v in verdicts]
    truth_failed = [not s for s in success]
    result = {"overall": binary_metrics(truth_failed, pred_failed), "per_fault": per_fault_metrics(faults, pred_failed),
              "format_rate": sum(v is not None for v in verdicts) / max(1, len(verdicts)),
              "predicted_failed_rate": sum(p is True for p in pred_failed) / max(1, len(pred_failed)),
              "true_failed_rate": sum(truth_failed) / max(1, len(truth_failed)),
              "accuracy_interval": bootstrap_interval(
                  [p is not None and p == t for p, t in zip(pred_failed, truth_failed)])}
    if scores is not None:
        result["auc_teacher_forced"] = roc_auc(truth_failed, scores)
    return result


def reward_term_means(ds, answers: list[str], reward_config) -> dict:
    """Mean of each reward term (and the combined reward) over the answers, rows from critic-rl."""

    rewards = SimRewards(reward_config)
    try:
        columns = {c: ds[c] for c in ("success", "row_seed", "source_snapshot", "gt_snapshot", "subgoal", "task",
                                      "step_index", "num_steps", "instruction")}
        columns["images"] = ds["images"]
        terms = rewards.all_terms(answers, **columns)
    finally:
        rewards.close()
    means = {}
    for name in TERMS:
        values = [t[name] for t in terms if t[name] is not None]
        means[name] = sum(values) / len(values) if values else None
    means["combined"] = sum(combine(t, reward_config) for t in terms) / max(1, len(terms))
    return means
