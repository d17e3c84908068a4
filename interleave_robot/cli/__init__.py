"""`interleave-robot` command line: one module per subcommand, listed in COMMANDS.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules are imported only when their command runs (or for --help), so the CLI starts fast.
Errors a user can cause end with one line on stderr and exit 2, never a traceback: the
project's typed errors (InterleaveError), and the I/O errors a user's machine causes (disk
full, read-only or missing directory, permission denied: OSError) or a user's file causes
(binary where text was expected: UnicodeDecodeError). Anything else is a bug and keeps its
traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from interleave_robot.errors import InterleaveError
from interleave_robot.extras import describe_import_error, missing_extra

COMMANDS: dict[str, str] = {
    "run": "interleave_robot.cli.run_cmd",
    "report": "interleave_robot.cli.report_cmd",
    "serve-generator": "interleave_robot.cli.serve_generator_cmd",
    "demo": "interleave_robot.sim_envs.demo_cmd",
    "bench": "interleave_robot.sim_envs.bench_cmd",
    "metaworld": "interleave_robot.sim_envs.metaworld_cmd",
    "ros-demo": "interleave_robot.ros_nodes.ros_demo_cmd",
    "data": "interleave_robot.training.data_cmd",
    "train": "interleave_robot.training.train_cmd",
    "eval": "interleave_robot.training.eval_cmd",
}

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: 'No space left on device: runs/x/report.html'."""
    what = exc.strerror or type(exc).__name__
    return f"{what}: {exc.filename}" if exc.filename else f"{what} ({exc})" if str(exc) != what else what


def _fail(command: str, message: str) -> int:
    line = " ".join(message.split())  # one line, whatever the message holds
    print(f"interleave-robot {command}: error: {line}", file=sys.stderr)
    return EXIT_USER_ERROR


def _load(name: str):
    return importlib.import_module(COMMANDS[name])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's module is imported (fast startup)."""
    parser = argparse.ArgumentParser(
        prog="interleave-robot",
        description="Step-by-step visual guidance for robot manipulation: planner -> image generator -> critic.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is not None and name != only:
            sub.add_parser(name, add_help=False)
            continue
        try:
            module = _load(name)
        except ImportError as exc:  # the command's extra is not installed: say which one
            sub.add_parser(name, help=f"(unavailable: {describe_import_error(exc)})")
            continue
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen in COMMANDS:
        try:
            _load(chosen)
        except ImportError as exc:  # e.g. `pip install interleave-robot` then `demo`: name the extra, one line
            if missing_extra(exc) is None:
                raise
            return _fail(chosen, describe_import_error(exc))
    parser = build_parser(only=chosen if chosen in COMMANDS else None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "_module", None) is None:
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args._module.run(args) or 0)
    except ModuleNotFoundError as exc:  # a stage whose extra is missing, imported at run time
        if missing_extra(exc) is None:
            raise
        return _fail(args.command, describe_import_error(exc))
    except InterleaveError as exc:
        return _fail(args.command, str(exc))
    except OSError as exc:
        return _fail(args.command, describe_os_error(exc))
    except UnicodeDecodeError as exc:
        return _fail(args.command, f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except KeyboardInterrupt:
        print(f"interleave-robot {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
