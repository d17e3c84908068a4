"""`interleave-robot run`: the guidance loop on one camera image and task.

    interleave-robot run --image scene.png --task "stack red on blue" \\
        --planner static --planner-opt steps="pick up red,place red on blue" \\
        --generator echo --critic always --out runs/demo

Writes the run directory (see store.py) and report.html, prints a one-line summary. A run
that was interrupted continues with `--resume --out DIR` (task, image, backends and options
come from the run directory; flags given again override them).

Exit status: 0 the run finished; 1 the run failed (the planner never answered in format, or
every generator call failed: then no step has an image, and the summary says
"all_generator_calls_failed": true); 2 a user error (bad flag, option, file; I/O error),
reported in one line on stderr; 130 interrupted.
"""
from __future__ import annotations

import re

from interleave_robot.cli.agent_args import add_agent_arguments
from interleave_robot.config import build_config, parse_key_values
from interleave_robot.errors import ConfigError
from interleave_robot.images import load_image
from interleave_robot.pipeline import GuidancePipeline, PipelineConfig
from interleave_robot.progress import ProgressListener
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.report import write_report
from interleave_robot.store import RunStore, generator_failures
from interleave_robot.types import Observation, Task

HELP = "run planner -> generator -> critic on one image and task; writes a run directory and report.html"
MAX_TASK_CHARS = 10_000
_SECRET = re.compile(r"key|token|secret|password", re.IGNORECASE)
REDACTED = "<redacted>"
_AGENTS = (("planner", PLANNERS), ("generator", GENERATORS), ("critic", CRITICS))


def add_arguments(parser) -> None:
    parser.add_argument("--image", help="camera image file (PNG, JPEG, ...)")
    parser.add_argument("--task", help="the task, in words")
    add_agent_arguments(parser)
    parser.add_argument("--out", required=True, help="run directory to write (or to continue with --resume)")
    parser.add_argument("--max-attempts", type=int, help="generator attempts per step (default 3)")
    parser.add_argument("--max-generator-calls", type=int, help="cap on generator calls over the whole run")
    parser.add_argument("--seed", type=int, help="base seed; attempt seeds derive from it (default 0)")
    parser.add_argument("--timeout", type=float, help="per-call timeout in seconds for every backend call")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    parser.add_argument("--no-progress", action="store_true", help="do not show progress")


def _pipeline_options(args, recorded: dict) -> dict:
    options = dict(recorded)
    given = {"max_attempts_per_step": args.max_attempts, "max_generator_calls": args.max_generator_calls,
             "seed": args.seed}
    if args.timeout is not None:
        given.update(generator_timeout_s=args.timeout, critic_timeout_s=args.timeout, planner_timeout_s=args.timeout)
    options.update({k: v for k, v in given.items() if v is not None})
    return options


def _backend_spec(args, recorded: dict) -> dict:
    """{"planner": {"name", "options"}, ...} from the flags, over what a resumed run recorded."""
    spec = {}
    for kind, _ in _AGENTS:
        name = vars(args)[kind]
        options = parse_key_values(vars(args)[f"{kind}_opt"])
        before = recorded.get(kind) or {}
        if name is None or name == before.get("name"):
            options = {**(before.get("options") or {}), **options}
            name = before.get("name")
        if name is None:
            raise ConfigError(f"--{kind} is required (the run directory records none)" if recorded
                              else f"--{kind} is required for a new run")
        hidden = [k for k, v in options.items() if v == REDACTED]
        if hidden:
            raise ConfigError(f"the {kind} option(s) {', '.join(hidden)} were not recorded (secret); "
                              f"give them again with --{kind}-opt")
        spec[kind] = {"name": name, "options": options}
    return spec


def _recordable(spec: dict) -> dict:
    """The spec as written to run.json: option values whose names look secret are redacted."""
    return {kind: {"name": s["name"], "options": {k: (REDACTED if _SECRET.search(k) else v)
                                                 for k, v in s["options"].items()}}
            for kind, s in spec.items()}


def _inputs(args):
    """(task, observation, store, recorded meta) for a new or a resumed run."""
    if args.resume:
        if args.image is not None:
            raise ConfigError("--resume continues from the run's own observation.png; drop --image")
        store = RunStore.open_for_resume(args.out)
        task = store.task
        if args.task is not None and args.task != task.text:
            raise ConfigError(f"--task differs from the resumed run's task {task.text!r}")
        return task, store.load_observation(), store, store.meta
    missing = [flag for flag, value in (("--image", args.image), ("--task", args.task)) if not value]
    if missing:
        raise ConfigError(f"{' and '.join(missing)} required for a new run (or use --resume)")
    if len(args.task) > MAX_TASK_CHARS:
        raise ConfigError(f"--task is {len(args.task)} characters, over the {MAX_TASK_CHARS} bound")
    observation = Observation(image=load_image(args.image))
    return Task(text=args.task), observation, None, {}


def run(args) -> int:
    task, observation, store, recorded = _inputs(args)
    spec = _backend_spec(args, recorded.get("backends") or {})
    config = build_config(PipelineConfig, _pipeline_options(args, recorded.get("pipeline") or {}))
    critic_name = spec["critic"]["name"]
    if critic_name != "none":
        CRITICS.resolve(critic_name)
    for kind, registry in _AGENTS[:2]:
        registry.resolve(spec[kind]["name"])  # an unknown name fails before any model loads
    built = []
    try:
        # Backends are built before the run directory exists: a bad option or plan file leaves nothing behind.
        for kind, registry in _AGENTS:
            name = spec[kind]["name"]
            built.append(None if name == "none" else registry.build(name, spec[kind]["options"]))
        planner, generator, critic = built
        if store is None:
            store = RunStore.create(args.out, meta={"backends": _recordable(spec), "pipeline": vars(config)})
        listeners = [] if args.no_progress else [ProgressListener()]
        try:
            trajectory = GuidancePipeline(planner, generator, critic, config).run(task, observation, listeners, store)
        except KeyboardInterrupt:
            print(f"interrupted; continue with: interleave-robot run --resume --out {args.out}")
            raise
    finally:
        for backend in built:
            if backend is not None:
                backend.close()
        if store is not None:
            store.close()

    report = write_report(args.out)
    flagged = sum(1 for s in trajectory.steps if s.flagged)
    failures = generator_failures(trajectory)
    all_failed = trajectory.generator_calls > 0 and failures == trajectory.generator_calls
    status = "done"
    if trajectory.error:
        status = f"failed: {trajectory.error}"
    elif all_failed:
        status = f"failed: every generator call failed ({failures} calls)"
    print(f"{status}: {len(trajectory.steps)} steps, {trajectory.generator_calls} generator calls, "
          f"{trajectory.critic_rejections} critic rejections, {flagged} flagged; report: {report}")
    return 1 if trajectory.error or all_failed else 0
