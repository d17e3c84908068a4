"""A `pip install interleave-robot` user without an extra gets one line naming the extra, exit 2."""
from __future__ import annotations

import subprocess
import sys

import pytest

from interleave_robot.extras import EXTRA_OF_PACKAGE, describe_import_error, missing_extra

# Block a package the way a missing install does (None in sys.modules: the import raises
# ModuleNotFoundError with that name), then run the CLI.
_RUN_WITHOUT = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
from interleave_robot.cli import main
sys.exit(main({argv!r}))
"""


def _cli_without(blocked: list[str], argv: list[str]) -> subprocess.CompletedProcess:
    code = _RUN_WITHOUT.format(blocked=blocked, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("blocked, argv, extra", [
    (["gymnasium", "mujoco"], ["demo", "--task", "stack"], "sim"),
    (["trl"], ["train", "sft", "--config", "configs/critic_sft_cpu.yaml"], "train"),
])
def test_command_without_its_extra_names_the_extra_in_one_line(blocked, argv, extra):
    out = _cli_without(blocked, argv)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert f'pip install "interleave-robot[{extra}]"' in lines[0]


def test_backend_without_its_extra_names_the_extra(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "camera.png")
    out = _cli_without(["gymnasium", "mujoco"], [
        "run", "--image", str(tmp_path / "camera.png"), "--task", "stack", "--out", str(tmp_path / "run"),
        "--planner", "teacher", "--generator", "echo", "--critic", "none"])
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert 'pip install "interleave-robot[sim]"' in out.stderr


def test_every_extra_named_exists_in_setup():
    from pathlib import Path

    setup = (Path(__file__).resolve().parents[2] / "setup.py").read_text()
    for extra in set(EXTRA_OF_PACKAGE.values()):
        assert f'"{extra}":' in setup, extra


def test_describe_import_error():
    exc = ModuleNotFoundError("No module named 'mujoco'", name="mujoco")
    assert missing_extra(exc) == "sim"
    assert describe_import_error(exc).startswith('needs the sim extra: pip install "interleave-robot[sim]"')
    assert missing_extra(ModuleNotFoundError("x", name="not_ours")) is None
