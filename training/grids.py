"""Dense reading targets: what a camera image shows, as an 8x8 grid of cell letters.

A critic row's answer in the "grids" style writes, before the verdict, the grid of the image
before, the grid of the image after, the instruction's goal (object, relation, reference), the
cell the object should end in, the objects whose cells changed, and whether the image is
noisy. The verdict then becomes a match of what was read against what was asked. Measured on
a tiny Qwen2-VL (issue 10): a whole grid written right after the image teaches reading (cells
right 0.87 within minutes), a sparse caption or a single verdict token does not.

Cells (one per image token of a 128 px image with patch 8 and merge 2):
    "."  empty;  r g b y p o  a block of that colour (the highest one where blocks stack);
    R G B Y P O  a bin of that colour (its centre cell) with no block on it.
A duplicated block (the generator's "duplicate" fault) is drawn where the image shows it.
"""
from __future__ import annotations

import json

import numpy as np

from interleave_robot.training.prompts import GRID, project

EMPTY = "."
LETTERS = {"red": "r", "green": "g", "blue": "b", "yellow": "y", "purple": "p", "orange": "o"}
RELATION_WORDS = {"on": "on", "in": "in", "left_of": "left of", "right_of": "right of", "next_to": "next to",
                  "between": "between"}


def _cell(camera: dict, xyz) -> int:
    u, v = project(camera, list(xyz))
    col = min(GRID - 1, max(0, int(u * GRID / camera["width"])))
    row = min(GRID - 1, max(0, int(v * GRID / camera["height"])))
    return row * GRID + col


def cell_name(index: int) -> str:
    """'c3r5': the column and row of a cell index (as prompts.grid_cell writes positions)."""
    return f"c{index % GRID}r{index // GRID}"


def scene_grid(spec, state, camera: dict, duplicate: tuple[str, list[float]] | None = None) -> str:
    """The GRID*GRID cell letters of a scene state seen through `camera` (row-major string)."""
    cells = [EMPTY] * (GRID * GRID)
    for obj in spec.bins:
        cells[_cell(camera, state.positions[obj.name])] = LETTERS[obj.color].upper()
    blocks = [(state.positions[o.name][2], LETTERS[o.color], state.positions[o.name]) for o in spec.blocks]
    if duplicate is not None:
        name, at = duplicate
        blocks.append((0.0, LETTERS[spec.get(name).color], [at[0], at[1], 0.02]))
    for _, letter, pos in sorted(blocks, key=lambda b: b[0]):  # higher blocks drawn last: they are what is seen
        cells[_cell(camera, pos)] = letter
    return "".join(cells)


def changed(before: str, after: str) -> list[str]:
    """'r c3r4>c5r2' for each letter whose set of cells differs ('-' for none), in letter order."""
    out = []
    for letter in sorted(set(before + after) - {EMPTY}):
        a = [cell_name(i) for i, c in enumerate(before) if c == letter]
        b = [cell_name(i) for i, c in enumerate(after) if c == letter]
        if a != b:
            out.append(f"{letter} {','.join(a) or '-'}>{','.join(b) or '-'}")
    return out


def grid_record(spec, camera: dict, subgoal, before_state, after_state, gt_state, fault: str,
                detail: dict | None) -> str:
    """The JSON the "grids" answer style is written from (the dataset's `grids` column)."""
    duplicate = None
    if fault == "duplicate" and detail and "duplicate_at" in detail:
        duplicate = (detail["duplicate_of"], detail["duplicate_at"])
    letter = LETTERS[spec.get(subgoal.obj).color]
    refs = " ".join(LETTERS[spec.get(r).color] + ("" if spec.get(r).kind == "block" else "bin")
                    for r in subgoal.reference)
    return json.dumps({
        "before": scene_grid(spec, before_state, camera), "after": scene_grid(spec, after_state, camera, duplicate),
        "goal": f"{letter} {RELATION_WORDS[subgoal.relation]} {refs}",
        "want": f"{letter} {cell_name(_cell(camera, gt_state.positions[subgoal.obj]))}",
        "noise": fault == "artifact"})


def spaced(grid: str) -> str:
    """' . . r ...': one token per cell for a BPE that learned the ' x' pairs."""
    return "".join(f" {c}" for c in grid)


def arrivals(before: str, after: str) -> str:
    """The arrival grid: a block letter where the after grid shows a block the before grid did not have
    in that cell, "." elsewhere. Each cell is a function of the same cell of two grids (a fixed distance
    back in the answer), and a right edit has exactly one arrival: the goal's object in its wanted cell."""
    return "".join(a if a != b and a.islower() else EMPTY for b, a in zip(before, after))


def grids_think(record: dict, success: bool, style: str = "grids") -> str:
    """The think text of the "grids" or "arrivals" answer style."""
    verdict = "ok" if success else "bad"
    noise = f"noise {'yes' if record['noise'] else 'no'}"
    head = f"{spaced(record['before'])} /{spaced(record['after'])}"
    if style == "arrivals":
        return f"{head} /{spaced(arrivals(record['before'], record['after']))} / goal {record['goal']} / {noise} / {verdict}"
    moved = changed(record["before"], record["after"])
    return (f"{head} / goal {record['goal']} / want {record['want']}"
            f" / moved {'; '.join(moved) or 'none'} / {noise} / {verdict}")


def cell_accuracy(predicted: str, truth: str) -> float | None:
    """Share of cells right between two grids read back from answers (None if `predicted` is not a grid)."""
    if len(predicted) != len(truth):
        return None
    return float(np.mean([a == b for a, b in zip(predicted, truth)]))


def read_grids(think: str, count: int = 2) -> list[str]:
    """The first `count` grids of a "grids"/"arrivals" think text (a grid: GRID*GRID single-letter cells)."""
    grids = []
    for part in think.split("/")[:count]:
        cells = part.split()
        if len(cells) == GRID * GRID and all(len(c) == 1 for c in cells):
            grids.append("".join(cells))
    return grids


def think_field(think: str, name: str) -> str | None:
    """The value of one ' / '-separated field of a "grids" think text ('goal', 'want', 'moved', 'noise')."""
    for part in think.split(" / "):
        if part.startswith(name + " "):
            return part[len(name) + 1:].strip()
    return None


def field_accuracy(thinks: list[str], records: list[str], successes: list[bool], style: str = "grids") -> dict:
    """Share of answers whose fields (goal, want, moved / the arrival grid, noise) and final ok|bad equal the
    target's."""
    names = ("goal", "noise") if style == "arrivals" else ("goal", "want", "moved", "noise")
    right = dict.fromkeys((*names, *(("arrival_grid",) if style == "arrivals" else ()), "verdict_word"), 0)
    for think, record, success in zip(thinks, records, successes):
        target = grids_think(json.loads(record), success, style)
        for name in names:
            right[name] += think_field(think, name) == think_field(target, name)
        if style == "arrivals":
            written, wanted = read_grids(think, 3), read_grids(target, 3)
            right["arrival_grid"] += len(written) == 3 and written[2] == wanted[2]
        right["verdict_word"] += think.strip().endswith("ok" if success else "bad")
    return {k: v / max(1, len(thinks)) for k, v in right.items()}
