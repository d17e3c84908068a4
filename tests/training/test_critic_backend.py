"""A trained checkpoint loads as the critic backend, runs in the guidance loop, and evaluates."""
from __future__ import annotations

import json

from interleave_robot.cli import main
from interleave_robot.training.downstream import build_critic, task_success


def test_trained_checkpoint_runs_in_the_loop_as_vlm_critic(sft_model):
    root, _ = sft_model
    model_dir = root / "run" / "model"
    critic = build_critic("vlm", model_dir)  # through the CRITICS registry, as a user would
    critic.close()
    result = task_success("vlm", episodes=1, seed=7, model_dir=model_dir, families=("pick_place",), progress=False)
    run = result["episodes_detail"][0]
    assert result["episodes"] == 1 and run["generator_calls"] >= run["flagged_steps"]
    # an untrained tiny critic answers out of format: the loop flags those steps instead of crashing
    assert run["failure"] is None or isinstance(run["failure"], str)


def test_eval_cli_writes_eval_json(sft_model, critic_rl, tmp_path):
    root, _ = sft_model
    out = tmp_path / "eval.json"
    code = main(["eval", "critic", "--model", str(root / "run" / "model"), "--data", str(critic_rl),
                 "--max-rows", "4", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["overall"]["n"] == min(4, result["overall"]["n"]) > 0
    assert 0.0 <= result["format_rate"] <= 1.0 and "per_fault" in result


def test_train_cli_reports_bad_recipe_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: sft\nmodel: {path: m}\noutput_dir: o\n")
    assert main(["train", "sft", "--config", str(path)]) == 2
    assert "data" in capsys.readouterr().err
