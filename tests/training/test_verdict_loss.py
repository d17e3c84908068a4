"""The verdict-weighted SFT loss (training/verdict_loss.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from interleave_robot.training.verdict_loss import verdict_token_ids, weighted_loss


def _batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 10)
    labels = torch.tensor([[-100, -100, 3, 4, 7, 1], [-100, 2, 2, 7, -100, -100]])
    return SimpleNamespace(logits=logits), labels


def test_weight_one_is_the_plain_mean_over_answer_tokens():
    outputs, labels = _batch()
    plain = torch.nn.functional.cross_entropy(outputs.logits[:, :-1].reshape(-1, 10), labels[:, 1:].reshape(-1),
                                              ignore_index=-100)
    assert torch.allclose(weighted_loss([7], 1.0)(outputs, labels), plain)


def test_verdict_tokens_dominate_the_loss_as_the_weight_grows():
    outputs, labels = _batch()
    target = labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(outputs.logits[:, :-1].reshape(-1, 10), target.clamp(min=0).reshape(-1),
                                           reduction="none").view_as(target)
    verdict_only = ce[target == 7].mean()
    heavy = weighted_loss([7], 1000.0)(outputs, labels)
    assert abs(float(heavy - verdict_only)) < 0.02 * float(verdict_only)
    # Weight w: (w * verdict + rest) / (w * n_verdict + n_rest), exactly.
    rest = ce[(target != 7) & (target != -100)]
    expected = (5 * ce[target == 7].sum() + rest.sum()) / (5 * 2 + rest.numel())
    assert torch.allclose(weighted_loss([7], 5.0)(outputs, labels), expected)


def test_verdict_token_ids_are_the_last_token_of_each_word():
    vocab = {" ok": [5], " bad": [6], " true": [9, 8], " false": [11]}
    tokenizer = SimpleNamespace(encode=lambda word, add_special_tokens=False: vocab[word])
    assert verdict_token_ids(tokenizer) == [5, 6, 8, 11]


def test_recipe_bounds_the_weight(tmp_path):
    from interleave_robot.errors import ConfigError
    from interleave_robot.training.recipes import SFTRecipe

    with pytest.raises(ConfigError, match="verdict_weight"):
        SFTRecipe(data=str(tmp_path), output_dir=str(tmp_path), model={"path": str(tmp_path)}, verdict_weight=0.5)


def test_recipe_refuses_a_negative_start_step(tmp_path):
    from interleave_robot.errors import ConfigError
    from interleave_robot.training.recipes import SFTRecipe

    with pytest.raises(ConfigError, match="verdict_weight_from_step"):
        SFTRecipe(data=str(tmp_path), output_dir=str(tmp_path), model={"path": str(tmp_path)}, verdict_weight=5,
                  verdict_weight_from_step=-1)
    assert SFTRecipe(data=str(tmp_path), output_dir=str(tmp_path), model={"path": str(tmp_path)},
                     verdict_weight=5, verdict_weight_from_step=400).verdict_weight_from_step == 400


def test_trainer_uses_the_plain_loss_before_the_start_step_and_the_weighted_one_after():
    from interleave_robot.training.verdict_loss import weighted_sft_trainer

    outputs, labels = _batch()
    trainer_class = weighted_sft_trainer([7], 50.0, from_step=10)
    model = lambda **kwargs: outputs  # noqa: E731 - a stand-in returning fixed logits
    at = lambda step: trainer_class.compute_loss(SimpleNamespace(state=SimpleNamespace(global_step=step)), model,
                                                 {"labels": labels, "input_ids": None})  # noqa: E731
    assert torch.allclose(at(9), weighted_loss([7], 1.0)(outputs, labels))
    assert torch.allclose(at(10), weighted_loss([7], 50.0)(outputs, labels))
