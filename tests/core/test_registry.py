"""Backends by name, by `module.path:ClassName`, and by entry point (installed plugins)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest

from interleave_robot.agents import Generator
from interleave_robot.cli import main
from interleave_robot.errors import ConfigError
from interleave_robot.registry import CRITICS, GENERATORS, PLANNERS
from interleave_robot.types import GenerationResult


@dataclass
class InvertConfig:
    amount: int = 255


class InvertGenerator(Generator):
    """A user's generator, defined in a test file: it inverts the source image."""

    config_class = InvertConfig

    def __init__(self, config: InvertConfig):
        self.config = config

    def generate(self, request):
        return GenerationResult(image=(self.config.amount - request.source_image).astype(np.uint8))


class NoConfig:
    def generate(self, request):
        return None


def test_module_class_backend_builds_with_options():
    gen = GENERATORS.build(f"{__name__}:InvertGenerator", {"amount": "200"})
    assert isinstance(gen, InvertGenerator) and gen.config.amount == 200
    with pytest.raises(ConfigError, match="InvertConfig: unknown option"):
        GENERATORS.build(f"{__name__}:InvertGenerator", {"colour": "red"})


@pytest.mark.parametrize("name, message", [
    ("dall-e", "unknown generator backend 'dall-e'; choose one of: .*echo.*module.path:ClassName"),
    ("no_such_pkg.gen:Thing", "generator backend 'no_such_pkg.gen:Thing' cannot be imported: No module named"),
    (f"{__name__}:Missing", f"module '{__name__}' has no 'Missing'"),
    (f"{__name__}:NoConfig", "has no `config_class` dataclass"),
    (f"{__name__}:InvertConfig", "has no `config_class`"),
    ("numpy:pi", "is not a class"),
    (":Thing", "expected module.path:ClassName"),
    ("", "non-empty name"),
])
def test_unusable_backends_are_config_errors_naming_them(name, message):
    with pytest.raises(ConfigError, match=message):
        GENERATORS.resolve(name)


def test_a_critic_class_is_not_a_generator():
    with pytest.raises(ConfigError, match=r"has no generate\(\) method"):
        GENERATORS.resolve("interleave_robot.backends.scripted:AlwaysCritic")
    assert CRITICS.resolve("interleave_robot.backends.scripted:AlwaysCritic").__name__ == "AlwaysCritic"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """An installed distribution (a dist-info with entry points) adding one backend of each kind."""
    (tmp_path / "myplugin_pkg.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from interleave_robot.backends.scripted import AlwaysCritic, EchoGenerator, StaticPlanner

        class PluginGenerator(EchoGenerator):
            pass

        class PluginCritic(AlwaysCritic):
            pass

        class PluginPlanner(StaticPlanner):
            pass
    '''))
    info = tmp_path / "myplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[interleave_robot.generators]\nplugged = myplugin_pkg:PluginGenerator\n"
        "sim = myplugin_pkg:PluginGenerator\n"  # a plugin cannot shadow a built-in name
        "[interleave_robot.critics]\nplugged = myplugin_pkg:PluginCritic\n"
        "[interleave_robot.planners]\nplugged = myplugin_pkg:PluginPlanner\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugins_add_names(plugin):
    assert "plugged" in GENERATORS.names() and "plugged" in CRITICS.names() and "plugged" in PLANNERS.names()
    assert GENERATORS.resolve("plugged").__name__ == "PluginGenerator"
    assert CRITICS.build("plugged", {}).__class__.__name__ == "PluginCritic"
    assert PLANNERS.resolve("plugged").__name__ == "PluginPlanner"
    assert GENERATORS.resolve("sim").__name__ == "SimulatedGenerator"


def test_entry_point_plugin_runs_from_the_cli(plugin, tmp_path, capsys):
    from interleave_robot.images import save_png

    save_png(np.zeros((16, 16, 3), np.uint8), tmp_path / "scene.png")
    code = main(["run", "--image", str(tmp_path / "scene.png"), "--task", "t", "--planner", "plugged",
                 "--planner-opt", "steps=a,b", "--generator", "plugged", "--critic", "plugged",
                 "--out", str(tmp_path / "run"), "--no-progress"])
    assert code == 0 and "2 steps" in capsys.readouterr().out


def test_unknown_or_unimportable_backend_exits_2_with_one_line(tmp_path):
    from interleave_robot.images import save_png

    save_png(np.zeros((16, 16, 3), np.uint8), tmp_path / "x.png")
    for flag, value in (("--generator", "no_such_pkg.gen:Thing"), ("--critic", "nobody")):
        proc = subprocess.run([sys.executable, "-m", "interleave_robot", "run", "--image", str(tmp_path / "x.png"), "--task", "t",
                               "--planner", "static", "--generator", "echo", "--critic", "always", flag, value,
                               "--out", str(tmp_path / flag.strip("-"))],
                              capture_output=True, text=True, timeout=60)
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(err) == 1 and value in err[0] and "Traceback" not in proc.stderr
