"""Probes: is `previous_step_success` learnable from these inputs at all, by a small model, fast?

A diagnostic for the critic experiment (docs/DESIGN.md lists it as an untried route). Each probe is
a small MLP trained with plain PyTorch on fixed features of the critic rows and scored by ROC
AUC on the held-out split:
- "pixels": the two images downsampled (plus their difference) and the instruction's
  moved-object colour, relation and reference colour as one-hot vectors: an upper reference
  for what the images carry;
- "vision": the frozen vision tower of a critic checkpoint (mean- and max-pooled image tokens
  of both images) plus the same instruction one-hots: does that tower's output carry it?
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from interleave_robot.training.formatting import load_split
from interleave_robot.training.metrics import roc_auc
from interleave_robot.training.modeling import load_processor

# Function-level imports here are only torch and transformers (heavy, optional: the [train] extra).

RELATIONS = ("on", "in", "left_of", "right_of", "next_to", "between")
COLOR_NAMES = ("red", "green", "blue", "yellow", "purple", "orange")


def relation_onehots(ds) -> np.ndarray:
    """One-hot relation of the step's subgoal."""
    feats = []
    for subgoal_json in ds["subgoal"]:
        vec = np.zeros(len(RELATIONS), dtype=np.float32)
        vec[RELATIONS.index(json.loads(subgoal_json)["relation"])] = 1.0
        feats.append(vec)
    return np.stack(feats)


def colour_onehots(ds) -> np.ndarray:
    """One-hot colours of the moved object and of its (first) reference."""
    feats = []
    for cells_json in ds["cells"]:
        words = list(json.loads(cells_json))  # moved object first, then references
        vec = np.zeros(len(COLOR_NAMES) * 2, dtype=np.float32)
        for slot, word in enumerate(words[:2]):
            vec[slot * len(COLOR_NAMES) + COLOR_NAMES.index(word.split()[0])] = 1.0
        feats.append(vec)
    return np.stack(feats)


def pixel_features(ds, side: int = 32) -> np.ndarray:
    feats = []
    for before, after in ds["images"]:
        a = np.asarray(before.convert("RGB").resize((side, side), Image.BILINEAR), dtype=np.float32) / 255
        b = np.asarray(after.convert("RGB").resize((side, side), Image.BILINEAR), dtype=np.float32) / 255
        feats.append(np.concatenate([a.ravel(), b.ravel(), (b - a).ravel()]))
    return np.stack(feats)


def vision_features(ds, model_dir: str | Path, batch: int = 32) -> np.ndarray:
    """Frozen vision-tower tokens of both images, mean- and max-pooled (the tower's merger output)."""
    import torch
    from transformers import AutoModelForImageTextToText


    processor = load_processor(Path(model_dir))
    model = AutoModelForImageTextToText.from_pretrained(model_dir, local_files_only=True, use_safetensors=True).eval()
    out = []
    for start in range(0, len(ds), batch):
        rows = ds.select(range(start, min(start + batch, len(ds))))
        images = [im for pair in rows["images"] for im in pair]
        inputs = processor.image_processor(images=images, return_tensors="pt")
        with torch.inference_mode():
            emb = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
        emb = emb.pooler_output if not isinstance(emb, (tuple, list)) else emb
        per_image = [e.float() for e in emb]
        for i in range(0, len(per_image), 2):
            a, b = per_image[i], per_image[i + 1]
            out.append(torch.cat([a.mean(0), b.mean(0), (b - a).abs().mean(0), (b - a).abs().amax(0),
                                  a.flatten(), b.flatten()]).numpy())
    return np.stack(out)


def train_probe(x_train, y_train, x_test, y_test, epochs: int = 300, hidden: int = 128, seed: int = 0) -> dict:
    """A 2-layer MLP (AdamW, weight decay, full batch); ROC AUC and accuracy on the test rows."""
    import torch

    torch.manual_seed(seed)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    xt = torch.tensor((x_train - mean) / std, dtype=torch.float32)
    xv = torch.tensor((x_test - mean) / std, dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(xt.shape[1], hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(epochs):
        net.train()
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt).squeeze(1), yt)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        scores = net(xv).squeeze(1).numpy()
        train_scores = net(xt).squeeze(1).numpy()
    return {"test_auc": roc_auc(list(map(bool, y_test)), scores.tolist()),
            "test_accuracy": float(((scores > 0) == (y_test > 0.5)).mean()),
            "train_auc": roc_auc(list(map(bool, y_train)), train_scores.tolist()),
            "train_rows": int(len(y_train)), "test_rows": int(len(y_test))}


def run_probes(data_dir: str | Path, model_dir: str | Path | None = None, max_rows: int | None = None) -> dict:
    """Both probes (vision only with a checkpoint); labels: 1 = the step failed."""
    train, test = load_split(data_dir, "train", max_rows), load_split(data_dir, "test", max_rows)
    y_train = 1.0 - np.asarray(train["success"], dtype=np.float32)
    y_test = 1.0 - np.asarray(test["success"], dtype=np.float32)
    text_train = np.concatenate([relation_onehots(train), colour_onehots(train)], 1)
    text_test = np.concatenate([relation_onehots(test), colour_onehots(test)], 1)
    results = {"text_only": train_probe(text_train, y_train, text_test, y_test)}
    results["pixels"] = train_probe(np.concatenate([pixel_features(train), text_train], 1), y_train,
                                    np.concatenate([pixel_features(test), text_test], 1), y_test)
    if model_dir is not None:
        results["vision"] = train_probe(np.concatenate([vision_features(train, model_dir), text_train], 1), y_train,
                                        np.concatenate([vision_features(test, model_dir), text_test], 1), y_test)
    return results
