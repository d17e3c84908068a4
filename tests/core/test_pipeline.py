"""The loop: chaining, critic refinement, budgets, failures, timeouts, caps, seeds, events, closed loop."""
import threading
import time

import numpy as np
import pytest

from interleave_robot import BackendTimeoutError, ConfigError, ImageError
from interleave_robot.agents import Critic, Generator, Planner, Robot
from interleave_robot.backends.scripted import REFINE_SUFFIX, EchoGenerator, EchoGeneratorConfig
from interleave_robot.events import ATTEMPT_DONE, PLAN_READY, REPLANNED, RUN_FINISHED, STEP_ACCEPTED, STEP_EXECUTED
from interleave_robot.pipeline import PipelineConfig, attempt_seed
from interleave_robot.store import RunStore
from interleave_robot.types import GenerationResult, Observation, Plan, PlanStep, StepFeedback, Verdict

from .conftest import STEPS, Recorder, make_pipeline


class RecordingGenerator(EchoGenerator):
    """The echo generator, keeping each request and the thread that served it."""

    def __init__(self, **options):
        super().__init__(EchoGeneratorConfig(**options))
        self.requests, self.threads = [], []

    def generate(self, request):
        self.requests.append(request)
        self.threads.append(threading.get_ident())
        return super().generate(request)


class ScriptCritic(Critic):
    """Answers from a list of Verdicts (or exceptions to raise), keeping each request."""

    config_class = dict

    def __init__(self, answers):
        self.answers, self.requests = list(answers), []

    def critique(self, request):
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_happy_path_events_and_chaining(observation):
    pipe = make_pipeline(critic={"reject_first": 1})
    pipe.generator = gen = RecordingGenerator()
    rec = Recorder()
    traj = pipe.run("stack", observation, listeners=[rec])
    assert traj.finished and traj.error is None
    assert len(traj.steps) == 3 and all(not s.flagged and s.accepted_index == 1 for s in traj.steps)
    assert traj.generator_calls == 6 and traj.critic_rejections == 3
    # step 1 edits the observation; step k+1 edits step k's accepted image and gets its state
    assert np.array_equal(gen.requests[0].source_image, observation.image)
    assert gen.requests[0].source_state == {"sim": "initial"}
    for k in (2, 4):
        accepted = traj.steps[k // 2 - 1].accepted
        assert np.array_equal(gen.requests[k].source_image, accepted.image)
        assert gen.requests[k].source_state == accepted.state == {"call_index": k - 1}
    # the rejected attempt's refined prompt is what the next attempt used
    assert traj.steps[0].attempts[1].prompt == STEPS[0] + REFINE_SUFFIX
    assert traj.steps[0].attempts[1].metadata == {"call_index": 1, "seed": traj.steps[0].attempts[1].seed}
    kinds = rec.kinds()
    assert kinds[0] == PLAN_READY and kinds[-1] == RUN_FINISHED
    assert kinds.count(ATTEMPT_DONE) == 6 and kinds.count(STEP_ACCEPTED) == 3
    accepted_events = [e.payload for e in rec.events if e.kind == STEP_ACCEPTED]
    assert [(p["step_index"], p["num_steps"]) for p in accepted_events] == [(0, 3), (1, 3), (2, 3)]
    assert np.array_equal(accepted_events[-1]["image"], traj.steps[-1].accepted.image)


def test_critic_request_contents(observation):
    critic = ScriptCritic([Verdict(False, "make it red"), Verdict(True)])
    pipe = make_pipeline(steps=STEPS[:1])
    pipe.critic = critic
    traj = pipe.run("stack", observation)
    first, second = critic.requests
    assert np.array_equal(first.before_image, observation.image)
    assert np.array_equal(first.after_image, traj.steps[0].attempts[0].image)
    assert first.instruction == second.instruction == STEPS[0]  # the original instruction, always
    assert (first.prompt, second.prompt) == (STEPS[0], "make it red")
    assert first.plan is traj.plan and first.task_text == "stack" and first.step.step_number == 1


def test_empty_refine_prompt_reuses_prompt_with_new_seed(observation):
    pipe = make_pipeline(steps=STEPS[:1])
    pipe.critic = ScriptCritic([Verdict(False, ""), Verdict(True)])
    a0, a1 = pipe.run("t", observation).steps[0].attempts
    assert a0.prompt == a1.prompt == STEPS[0] and a0.seed != a1.seed


def test_budget_exhausted_accepts_last_image_flagged(observation):
    traj = make_pipeline(critic={"accept": False}, max_attempts_per_step=2).run("t", observation)
    assert traj.finished and traj.generator_calls == 6
    for step in traj.steps:
        assert step.flagged and step.accepted_index == 1
        assert "2 of 2 attempts rejected" in step.flag_reason


def test_generator_failures_flag_and_carry_source_forward(observation):
    pipe = make_pipeline(generator={"fail_calls": [0, 1, 2]})
    pipe.generator = gen = RecordingGenerator(fail_calls=[0, 1, 2])
    traj = pipe.run("t", observation)
    first = traj.steps[0]
    assert first.flagged and first.accepted is None and len(first.attempts) == 3
    assert "carried forward" in first.flag_reason and "injected failure" in first.flag_reason
    assert all(a.error.startswith("generator:") and a.image is None for a in first.attempts)
    assert np.array_equal(gen.requests[3].source_image, observation.image)  # step 2 starts from the observation
    assert traj.finished and not traj.steps[1].flagged


class _BadGenerator(Generator):
    config_class = dict

    def __init__(self, output):
        self.output = output

    def generate(self, request):
        if isinstance(self.output, BaseException):
            raise self.output
        return self.output


@pytest.mark.parametrize("output, message", [
    (RuntimeError("CUDA out of memory"), "RuntimeError: CUDA out of memory"),
    ("not a result", "not a GenerationResult"),
    (GenerationResult(image=np.zeros((4, 4, 3), np.float32)), "must be uint8"),
])
def test_generator_bugs_are_recorded(observation, output, message):
    pipe = make_pipeline(steps=STEPS[:1], max_attempts_per_step=2)
    pipe.generator = _BadGenerator(output)
    traj = pipe.run("t", observation)
    assert traj.finished and traj.steps[0].flagged
    assert all(message in a.error for a in traj.steps[0].attempts)


def test_generator_timeout_then_run_continues(observation):
    pipe = make_pipeline(steps=STEPS[:2], generator={"hang_calls": [0], "hang_s": 2.0}, generator_timeout_s=0.1)
    pipe.generator = gen = RecordingGenerator(hang_calls=[0], hang_s=2.0)
    start = time.perf_counter()
    traj = pipe.run("t", observation)
    assert time.perf_counter() - start < 1.5  # the hung call was abandoned, not waited for
    a0, a1 = traj.steps[0].attempts
    assert "did not answer within 0.1 s" in a0.error and a1.error is None and traj.steps[0].accepted_index == 1
    assert traj.finished and not any(s.flagged for s in traj.steps)
    # calls after the abandoned one run on one reused worker thread, not the caller's thread
    assert len(set(gen.threads[1:])) == 1 and gen.threads[1] != threading.get_ident()


def test_no_timeout_calls_inline(observation):
    pipe = make_pipeline()
    pipe.generator = gen = RecordingGenerator()
    pipe.run("t", observation)
    assert set(gen.threads) == {threading.get_ident()}


def test_backend_own_timeout_error_is_not_confused_with_ours(observation):
    pipe = make_pipeline(steps=STEPS[:1], max_attempts_per_step=1, generator_timeout_s=5.0)
    pipe.generator = _BadGenerator(BackendTimeoutError("http generator: read timed out"))
    traj = pipe.run("t", observation)
    assert traj.steps[0].attempts[0].error == "generator: http generator: read timed out"


def test_critic_format_errors_retried_then_flagged(observation):
    good = "<answer>{'previous_step_success': True}</answer>"
    traj = make_pipeline(steps=STEPS[:1], critic={"answers": ["garbage", good]}).run("t", observation)
    assert traj.steps[0].accepted_index == 0 and not traj.steps[0].flagged
    pipe = make_pipeline(steps=STEPS[:1], critic={"answers": ["nope"]}, max_format_retries=1)
    traj = pipe.run("t", observation)
    step = traj.steps[0]
    assert pipe.critic.calls == 6  # 3 attempts x (1 + 1 retry)
    assert step.flagged and step.accepted_index == 2
    assert all(a.error.startswith("critic: no answer in format after 2 tries") for a in step.attempts)


def test_planner_format_retry_and_failure(observation):
    answer = '<answer>[{"instruction": "a", "prompt": "b"}]</answer>'
    from interleave_robot.backends.scripted import StaticPlanner, StaticPlannerConfig
    pipe = make_pipeline()
    pipe.planner = StaticPlanner(StaticPlannerConfig(answers=["bad", "worse", answer]))
    assert len(pipe.run("t", observation).steps) == 1
    pipe.planner = StaticPlanner(StaticPlannerConfig(answers=["bad"]))
    rec = Recorder()
    traj = pipe.run("t", observation, listeners=[rec])
    assert not traj.finished and traj.steps == [] and "no answer in format after 3 tries" in traj.error
    assert rec.kinds() == [RUN_FINISHED]


def test_planner_crash_ends_run_cleanly(observation):
    class Crashing(Planner):
        config_class = dict

        def plan(self, task, obs):
            raise KeyError("boom")

    pipe = make_pipeline()
    pipe.planner = Crashing()
    traj = pipe.run("t", observation)
    assert traj.error == "planner: KeyError: 'boom'" and not traj.finished


@pytest.mark.parametrize("pipe_kwargs", [{"no_critic": True}, {"use_critic": False}])
def test_no_critic_baseline_accepts_first_image(observation, pipe_kwargs):
    pipe = make_pipeline(critic={"accept": False}, **pipe_kwargs)
    traj = pipe.run("t", observation)
    assert traj.generator_calls == 3 and all(s.accepted_index == 0 and not s.flagged for s in traj.steps)
    assert all(a.verdict is None for s in traj.steps for a in s.attempts)


def test_generator_call_cap(observation):
    traj = make_pipeline(critic={"reject_first": 1}, max_generator_calls=3).run("t", observation)
    assert traj.finished and traj.generator_calls == 3
    assert not traj.steps[0].flagged
    assert traj.steps[1].flagged and traj.steps[1].accepted_index == 0 and "cap (3)" in traj.steps[1].flag_reason
    assert traj.steps[2].flagged and traj.steps[2].attempts == [] and "carried forward" in traj.steps[2].flag_reason
    assert traj.metadata["generator_call_cap"] == {"max_generator_calls": 3, "steps_cut_short": 2}


def test_seeds_are_deterministic_and_distinct(observation):
    seeds = lambda traj: [a.seed for s in traj.steps for a in s.attempts]  # noqa: E731
    a = seeds(make_pipeline(critic={"reject_first": 2}, seed=5).run("t", observation))
    b = seeds(make_pipeline(critic={"reject_first": 2}, seed=5).run("t", observation))
    c = seeds(make_pipeline(critic={"reject_first": 2}, seed=6).run("t", observation))
    assert a == b and a != c and len(set(a)) == len(a) == 9
    assert a[0] == attempt_seed(5, 1, 0) and all(0 <= s < 2**31 for s in a)


def test_raising_listener_is_detached(observation):
    calls, rec = [], Recorder()

    def broken(event):
        calls.append(event.kind)
        raise ValueError("listener bug")

    traj = make_pipeline().run("t", observation, listeners=[broken, rec])
    assert traj.finished and calls == [PLAN_READY] and rec.kinds()[-1] == RUN_FINISHED


def test_concurrent_runs_share_one_pipeline(observation):
    pipe = make_pipeline(critic={"reject_first": 1})
    results = [None] * 4
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, pipe.run(f"t{i}", observation)))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.task.text for r in results] == ["t0", "t1", "t2", "t3"]
    assert all(r.finished and r.generator_calls == 6 for r in results)


def test_bad_inputs_raise_typed_errors(observation):
    pipe = make_pipeline()
    with pytest.raises(ImageError):
        pipe.run("t", Observation(image=np.zeros((4, 4), np.uint8)))
    with pytest.raises(ConfigError):
        pipe.run("t", observation.image)


@pytest.mark.parametrize("options", [
    {"max_attempts_per_step": 0}, {"max_attempts_per_step": True}, {"max_generator_calls": -1},
    {"generator_timeout_s": 0}, {"critic_timeout_s": float("inf")}, {"planner_timeout_s": "5"},
    {"max_format_retries": -1}, {"seed": -3}, {"use_critic": "yes"}, {"loop": "sideways"}, {"max_replans": -1},
])
def test_config_validation(options):
    with pytest.raises(ConfigError, match=next(iter(options))):
        PipelineConfig(**options)


def test_zero_generator_calls_flags_every_step(observation):
    traj = make_pipeline(max_generator_calls=0).run("t", observation)
    assert traj.finished and traj.generator_calls == 0
    assert all(s.flagged and s.accepted is None and "cap (0)" in s.flag_reason for s in traj.steps)


# --- closed loop ---------------------------------------------------------------------------

class ScriptRobot(Robot):
    """A robot whose camera shows a new image after each step; `fail_at` step indices fail,
    `raise_at` ones raise; every call and the image it reported are kept."""

    def __init__(self, shape, fail_at=(), replan_at=(), raise_at=()):
        self.shape, self.fail_at, self.replan_at, self.raise_at = shape, set(fail_at), set(replan_at), set(raise_at)
        self.calls, self.frames = [], []

    def execute(self, step_result, step_index):
        if step_index in self.raise_at:
            raise RuntimeError("arm e-stop")
        self.calls.append((step_index, step_result.step.step_number, step_result.accepted is not None))
        frame = np.full(self.shape, 10 * (len(self.calls) + 1), np.uint8)  # the scene as the robot left it
        self.frames.append(frame)
        failed = step_index in self.fail_at
        return StepFeedback(Observation(image=frame, state={"robot_after": step_index}), success=not failed,
                            replan=step_index in self.replan_at, reason="block dropped" if failed else "")


class ObservingPlanner(Planner):
    """Plans `steps` (a list per call; the last repeats), keeping every observation it planned on."""

    config_class = dict

    def __init__(self, *plans):
        self.plans, self.observations = list(plans), []

    def plan(self, task, observation):
        self.observations.append(observation)
        texts = self.plans[min(len(self.observations), len(self.plans)) - 1]
        return Plan(steps=[PlanStep(i + 1, f"s{i + 1}", t, t) for i, t in enumerate(texts)])


def test_closed_loop_generates_from_robot_view(observation):
    pipe = make_pipeline()
    pipe.generator = gen = RecordingGenerator()
    robot, rec = ScriptRobot(observation.image.shape), Recorder()
    traj = pipe.run("stack", observation, listeners=[rec], robot=robot)
    assert traj.finished and traj.error is None and [c[0] for c in robot.calls] == [0, 1, 2]
    # step 1 edits the camera image; step k+1 edits what the robot saw after step k, not step k's image
    assert np.array_equal(gen.requests[0].source_image, observation.image)
    for k in (1, 2):
        assert np.array_equal(gen.requests[k].source_image, robot.frames[k - 1])
        assert not np.array_equal(gen.requests[k].source_image, traj.steps[k - 1].accepted.image)
        assert gen.requests[k].source_state == {"robot_after": k - 1}
    kinds = rec.kinds()
    assert kinds.count(STEP_EXECUTED) == 3 and REPLANNED not in kinds
    # each execution follows its step's acceptance
    assert [k for k in kinds if k in (STEP_ACCEPTED, STEP_EXECUTED)] == [STEP_ACCEPTED, STEP_EXECUTED] * 3
    executed = [e.payload for e in rec.events if e.kind == STEP_EXECUTED]
    assert [p["step_index"] for p in executed] == [0, 1, 2] and all(p["feedback"].success for p in executed)
    assert [e["step_number"] for e in traj.metadata["executions"]] == [1, 2, 3]


def test_closed_loop_critic_judges_against_robot_view(observation):
    critic = ScriptCritic([Verdict(True)])
    pipe = make_pipeline(steps=STEPS[:2])
    pipe.critic = critic
    robot = ScriptRobot(observation.image.shape)
    pipe.run("t", observation, robot=robot)
    assert np.array_equal(critic.requests[1].before_image, robot.frames[0])


def test_open_loop_never_calls_the_robot(observation):
    pipe = make_pipeline(loop="open")
    pipe.generator = gen = RecordingGenerator()
    robot = ScriptRobot(observation.image.shape)
    traj = pipe.run("t", observation, robot=robot)
    assert robot.calls == [] and traj.finished and "executions" not in traj.metadata
    assert np.array_equal(gen.requests[1].source_image, traj.steps[0].accepted.image)


def test_failed_step_replans_from_current_view(observation):
    planner = ObservingPlanner(["a", "b", "c"], ["b again", "c again"])
    pipe = make_pipeline()
    pipe.planner = planner
    pipe.generator = gen = RecordingGenerator()
    robot, rec = ScriptRobot(observation.image.shape, fail_at={1}), Recorder()
    traj = pipe.run("t", observation, listeners=[rec], robot=robot)
    assert traj.finished and traj.error is None
    assert len(planner.observations) == 2 and np.array_equal(planner.observations[1].image, robot.frames[1])
    # steps 1, 2 of the first plan were done; the new plan's steps follow, numbered after them
    assert [s.step.step_number for s in traj.steps] == [1, 2, 3, 4]
    assert [s.step.instruction for s in traj.steps] == ["a", "b", "b again", "c again"]
    assert [s.step_number for s in traj.plan.steps] == [1, 2, 3, 4]
    assert traj.metadata["replans"] == [{"after_step": 2, "reason": "block dropped",
                                         "steps": [s.step.to_dict() for s in traj.steps[2:]]}]
    replanned = [e.payload for e in rec.events if e.kind == REPLANNED]
    assert len(replanned) == 1 and replanned[0]["reason"] == "block dropped"
    assert [s.step_number for s in replanned[0]["plan"].steps] == [3, 4]
    assert np.array_equal(gen.requests[2].source_image, robot.frames[1])


def test_replan_requested_after_success_and_empty_replan_finishes(observation):
    planner = ObservingPlanner(["a", "b"], [])  # the second plan: nothing left to do
    pipe = make_pipeline()
    pipe.planner = planner
    robot = ScriptRobot(observation.image.shape, replan_at={0})
    traj = pipe.run("t", observation, robot=robot)
    assert traj.finished and traj.error is None and len(traj.steps) == 1
    assert traj.metadata["replans"][0]["reason"] == "the robot asked for a re-plan"


def test_replan_budget_spent_ends_run_with_reason(observation):
    pipe = make_pipeline(max_replans=1)
    pipe.planner = ObservingPlanner(["a", "b"])
    robot = ScriptRobot(observation.image.shape, fail_at={0, 1})
    traj = pipe.run("t", observation, robot=robot)
    assert not traj.finished and len(traj.metadata["replans"]) == 1
    assert traj.error == "step 2: block dropped; re-plan budget (1) spent"
    traj = make_pipeline(max_replans=0).run("t", observation, robot=ScriptRobot(observation.image.shape, fail_at={0}))
    assert traj.error == "step 1: block dropped; re-plan budget (0) spent" and len(traj.steps) == 1


def test_robot_failures_end_run_cleanly(observation):
    traj = make_pipeline().run("t", observation, robot=ScriptRobot(observation.image.shape, raise_at={1}))
    assert not traj.finished and traj.error == "step 2: robot: RuntimeError: arm e-stop" and len(traj.steps) == 2

    class Mute(Robot):
        def execute(self, step_result, step_index):
            return "done"

    traj = make_pipeline().run("t", observation, robot=Mute())
    assert traj.error == "step 1: robot: robot returned str, not a StepFeedback"


def test_replan_failure_names_the_planner(observation):
    class OnceOnly(Planner):
        config_class = dict
        calls = 0

        def plan(self, task, obs):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionError("planner server gone")
            return Plan(steps=[PlanStep(1, "s", "a", "a"), PlanStep(2, "s", "b", "b")])

    pipe = make_pipeline()
    pipe.planner = OnceOnly()
    traj = pipe.run("t", observation, robot=ScriptRobot(observation.image.shape, fail_at={0}))
    assert traj.error == "re-plan after step 1: planner: ConnectionError: planner server gone"


def test_closed_loop_run_stored_and_resume_refused(observation, tmp_path):
    pipe = make_pipeline()
    pipe.planner = ObservingPlanner(["a", "b"], ["b2"])
    store = RunStore.create(tmp_path / "run")
    traj = pipe.run("t", observation, store=store, robot=ScriptRobot(observation.image.shape, fail_at={0}))
    loaded = RunStore.load(tmp_path / "run")
    assert [s.step.step_number for s in loaded.steps] == [1, 2] and [s.step_number for s in loaded.plan.steps] == [1, 2]
    assert loaded.metadata["replans"] == traj.metadata["replans"]
    with pytest.raises(ConfigError, match="cannot be resumed"):
        pipe.run("t", observation, store=RunStore.open_for_resume(tmp_path / "run"),
                 robot=ScriptRobot(observation.image.shape))
    # without a robot (open loop) the same run directory resumes
    resumed = pipe.run("t", observation, store=RunStore.open_for_resume(tmp_path / "run"))
    assert resumed.metadata["resumed_steps"] == 2
