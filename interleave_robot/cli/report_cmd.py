"""`interleave-robot report DIR`: (re)write a run directory's self-contained report.html."""
from __future__ import annotations

from interleave_robot.report import write_report

HELP = "write the self-contained report.html of a run directory"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="DIR", help="a run directory written by `interleave-robot run`")
    parser.add_argument("--out", help="where to write the page (default: DIR/report.html)")


def run(args) -> int:
    print(write_report(args.run_dir, out=args.out))
    return 0
