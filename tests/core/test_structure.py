"""The shape of the tree: imports a reader and a type checker can follow, no import cycles, a light core.

The checks read the source with `ast`, so they hold for the repository tree itself (the design card's
top-level folders map under the `interleave_robot` namespace: `sim_envs/x.py` is
`interleave_robot.sim_envs.x`).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"interleave_robot": "interleave_robot", "sim_envs": "interleave_robot.sim_envs",
           "ros_nodes": "interleave_robot.ros_nodes", "training": "interleave_robot.training"}
CORE_FORBIDDEN = ("rclpy", "mujoco", "cyclonedds", "gymnasium", "torch")


def _modules() -> dict[str, Path]:
    modules = {}
    for folder, package in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def _imports(tree: ast.Module, top_level_only: bool = True) -> list[str]:
    """Modules a module imports: when it is imported (top level), or anywhere (function bodies too)."""
    names = []
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def test_every_import_is_absolute():
    relative = [f"{MODULES[name].relative_to(ROOT)}:{node.lineno}" for name, tree in TREES.items()
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert not relative, f"relative imports (use `from interleave_robot.... import`): {relative}"


def test_import_graph_has_no_cycles():
    """Function-level imports count too: a cycle hidden inside a function is still a cycle."""
    edges = {name: {t for t in _imports(tree, top_level_only=False) if t in MODULES and t != name}
             for name, tree in TREES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(
    ("interleave_robot.sim_envs", "interleave_robot.ros_nodes", "interleave_robot.training"))))
def test_core_library_imports_no_heavy_stack_at_module_level(name):
    heavy = [t for t in _imports(TREES[name]) if t.split(".")[0] in CORE_FORBIDDEN]
    assert not heavy, f"{name} imports {heavy} at module level (import them inside the backend that needs them)"


def test_import_interleave_robot_stays_light():
    code = ("import sys, interleave_robot, interleave_robot.registry, interleave_robot.cli; "
            f"print(sorted(m for m in {CORE_FORBIDDEN!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout
