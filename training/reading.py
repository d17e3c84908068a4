"""A short reading task for a tiny VLM: which cell of an image holds which colour.

Synthetic images (no simulator): a GRID x GRID board of cells, a few cells painted in one of a
few colours; the target is the whole board written as one letter per cell right after the
image. It isolates what the critic needs first, reading positions from image tokens, and it is
what tests/training/test_position_scheme.py trains under each scheme (issue 10: Qwen2-VL's
M-RoPE kept a tiny model at 0 boards read, plain 1D positions learned to read): fast, 100 steps
on half-filled boards (fill=0.5) with a vision tower initialised at std 0.2; slow, 300 steps on
boards of 1-2 painted cells at the default init.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

# Function-level imports here are only torch (heavy, optional: the [train] extra).

COLOURS = {"r": (220, 30, 30), "g": (30, 170, 40), "b": (30, 60, 230)}
EMPTY = "."


@dataclass
class ReadingTask:
    """Board size and sampling of the synthetic reading task."""

    grid: int = 4  # cells per side: with patch 8 and merge 2, one image token per cell
    cell_px: int = 16
    max_painted: int = 2
    fill: float = 0.0  # > 0: every cell is painted with this probability instead (max_painted unused)
    colours: str = "rgb"  # letters of COLOURS used; one colour makes the task pure localisation
    seed: int = 0

    @property
    def side(self) -> int:
        return self.grid * self.cell_px


def sample_board(task: ReadingTask, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(image HxWx3 uint8, board string of grid*grid letters)."""
    cells = [EMPTY] * (task.grid * task.grid)
    image = np.full((task.side, task.side, 3), 235, dtype=np.uint8)
    if task.fill > 0:
        chosen = [i for i in range(len(cells)) if rng.random() < task.fill]
    else:
        chosen = rng.choice(len(cells), size=int(rng.integers(1, task.max_painted + 1)), replace=False)
    for index in chosen:
        letter = str(rng.choice(list(task.colours)))
        cells[index] = letter
        r, c = divmod(int(index), task.grid)
        m = task.cell_px // 4  # a block smaller than its cell, as in the renders
        image[r * task.cell_px + m:(r + 1) * task.cell_px - m, c * task.cell_px + m:(c + 1) * task.cell_px - m] = \
            COLOURS[letter]
    return image, "".join(cells)


def board_text(board: str) -> str:
    """One token per cell (' r', ' .'), as the critic's grids are written."""
    return "".join(f" {c}" for c in board)


def corpus(task: ReadingTask, n: int = 200) -> list[str]:
    """Texts to train the tiny model's BPE on (so each cell is one token)."""
    rng = np.random.default_rng(task.seed + 1)
    return [board_text(sample_board(task, rng)[1]) for _ in range(n)] + ["Read the board."]


def train_reading(model, processor, task: ReadingTask, steps: int, batch_size: int = 16, lr: float = 3e-3,
                  eval_boards: int = 64) -> dict:
    """Train `model` on fresh boards for `steps` steps; held-out reading scores, teacher-forced
    (the argmax at each cell token of one forward pass):

    - "painted": share of painted cells read with the right colour (all-empty answers score 0);
    - "located": share of boards whose set of painted cells is read exactly (colours ignored):
      positions alone decide it; guessing scores about 0;
    - "cells": share of all cells read right as painted or empty (colours ignored): all-empty
      answers score 1 - the share of painted cells (0.5 at fill 0.5).
    """
    import torch

    rng = np.random.default_rng(task.seed)

    def batch(n: int, generator: np.random.Generator):
        boards = [sample_board(task, generator) for _ in range(n)]
        prompts = [processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "text", "text": "Read the board."}, {"type": "image"}]}],
            add_generation_prompt=True, tokenize=False) for _ in boards]
        texts = [p + board_text(b) for p, (_, b) in zip(prompts, boards)]
        inputs = processor(text=texts, images=[[Image.fromarray(im)] for im, _ in boards], padding=True,
                           padding_side="right", return_tensors="pt")
        # Every row has the same prompt and an image of the same size, so the same head length:
        # measured on the first row only (processing the images once per batch, not twice).
        head = int(processor(text=prompts[:1], images=[[Image.fromarray(boards[0][0])]],
                             return_tensors="pt")["attention_mask"].sum())
        labels = inputs["input_ids"].clone()
        labels[:, :head] = -100
        labels[inputs["attention_mask"] == 0] = -100
        return inputs, labels, boards

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for step in range(steps):
        inputs, labels, _ = batch(batch_size, rng)
        loss = model(**inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    model.eval()
    inputs, labels, boards = batch(eval_boards, np.random.default_rng(task.seed + 10_000))
    with torch.inference_mode():
        predicted = model(**inputs).logits[:, :-1].argmax(-1)
    target = labels[:, 1:]
    vocab = processor.tokenizer
    right = total = located = cells = 0
    for i, (_, board) in enumerate(boards):
        tokens = [vocab.decode([int(t)]).strip() for t, y in zip(predicted[i], target[i]) if y != -100]
        located += [c != EMPTY for c in board] == [t != EMPTY for t in tokens]
        for cell, read in zip(board, tokens):
            cells += (cell != EMPTY) == (read != EMPTY)
            if cell != EMPTY:
                total += 1
                right += read == cell
    return {"painted": right / max(1, total), "located": located / max(1, len(boards)),
            "cells": cells / max(1, sum(len(board) for _, board in boards))}
