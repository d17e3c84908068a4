"""The data model round-trips through JSON."""
import json

import numpy as np

from interleave_robot.types import (Attempt, CameraModel, Observation, Plan, PlanStep, StepResult, Task, Trajectory,
                                    Verdict)


def _through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


def _step(n: int) -> PlanStep:
    return PlanStep(step_number=n, step_name=f"Step {n}", instruction=f"do {n}", prompt=f"an image of {n}",
                    auxiliary_text="aux")


def test_task_camera_planstep_plan_verdict_round_trip():
    task = Task(text="stack red on blue", family="stack", spec={"order": ["blue", "red"]})
    camera = CameraModel(width=64, height=48, fx=50.0, fy=50.0, cx=32.0, cy=24.0)
    plan = Plan(steps=[_step(1), _step(2)], raw_text="<answer>[]</answer>", metadata={"source": "test"})
    verdict = Verdict(success=False, refine_prompt="move it left", raw_text="raw", reason="it is right")
    assert Task.from_dict(_through_json(task.to_dict())) == task
    assert CameraModel.from_dict(_through_json(camera.to_dict())) == camera
    assert Plan.from_dict(_through_json(plan.to_dict())) == plan
    assert Verdict.from_dict(_through_json(verdict.to_dict())) == verdict


def test_attempt_and_step_result_round_trip_without_images():
    attempt = Attempt(step_number=2, attempt_index=1, prompt="p", seed=7, image=np.zeros((2, 2, 3), np.uint8),
                      verdict=Verdict(success=True), generator_seconds=0.5, critic_seconds=0.25, error=None,
                      image_path="images/step2_attempt1.png", metadata={"fault": "none", "pose": [1.0, 2.0]},
                      state=object())
    back = Attempt.from_dict(_through_json(attempt.to_dict()))
    assert back.image is None and back.state is None  # images live in PNG files, state is not serialised
    assert back.metadata == attempt.metadata and back.verdict == attempt.verdict
    assert back.to_dict() == attempt.to_dict()
    result = StepResult(step=_step(2), attempts=[attempt], accepted_index=0, flagged=True, flag_reason="why")
    again = StepResult.from_dict(_through_json(result.to_dict()))
    assert again.to_dict() == result.to_dict()
    assert again.accepted.seed == 7


def test_trajectory_to_dict_is_json_and_counts():
    obs = Observation(image=np.zeros((4, 6, 3), np.uint8), camera=CameraModel(6, 4, 5.0, 5.0, 3.0, 2.0))
    rejected = Attempt(step_number=1, attempt_index=0, prompt="p", seed=1, verdict=Verdict(False, "q"))
    accepted = Attempt(step_number=1, attempt_index=1, prompt="q", seed=2, verdict=Verdict(True))
    traj = Trajectory(task=Task("t"), plan=Plan([_step(1)]), observation=obs,
                      steps=[StepResult(step=_step(1), attempts=[rejected, accepted], accepted_index=1)])
    data = _through_json(traj.to_dict())
    assert data["observation"]["image_shape"] == [4, 6, 3]
    assert traj.generator_calls == 2 and traj.critic_rejections == 1
