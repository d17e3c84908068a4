"""report.html: one self-contained page per run, viewable offline.

Images are inlined as base64 PNG data URIs and the CSS is inline: no external URL anywhere.
The page shows the interleaved sequence: the task and camera image, then each step's
instruction and accepted image, with every rejected attempt, the critic's reasons and refined
prompts, errors and flags. All text is HTML-escaped.

    write_report("runs/x")                                      # from the run directory
    write_report("runs/x", extra_images={"Final scene": rgb})   # extra sections (kept in extras/)

Extra images are saved into the run directory, so `interleave-robot report DIR` regenerates
the page with them. `summary.json`'s `extra` dict is shown as a table.
"""
from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import numpy as np

from interleave_robot.progress import describe_attempt
from interleave_robot.store import INTERRUPTED, RunStore, path_inside
from interleave_robot.types import Attempt, StepResult, Trajectory

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
.meta{color:#555}.step{margin-bottom:1.5em}.row{display:flex;gap:1em;flex-wrap:wrap;align-items:flex-start}
figure{margin:0}figcaption{font-size:.85em;color:#555;max-width:320px}
img.main{width:320px;image-rendering:pixelated;border:1px solid #999}
img.thumb{width:160px;image-rendering:pixelated;border:1px solid #bbb}
.attempt{border:1px solid #ddd;border-radius:6px;padding:.5em;max-width:340px;font-size:.9em}
.ok{color:#186b1c}.bad{color:#a31515}.flag{background:#fff3cd;border:1px solid #e0c36b;padding:.3em .6em;
border-radius:4px;display:inline-block}pre{white-space:pre-wrap;font-size:.8em;background:#f6f6f6;padding:.5em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
"""


def _data_uri(root: Path, rel: str) -> str | None:
    path = path_inside(root, rel)  # never inline a file from outside the run directory
    if path is None or not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _img(root: Path, rel: str | None, css: str, alt: str) -> str:
    uri = _data_uri(root, rel) if rel else None
    if uri is None:
        return f'<p class="meta">({escape(alt)}: no image)</p>'
    return f'<img class="{css}" src="{uri}" alt="{escape(alt)}">'


def _attempt_html(root: Path, a: Attempt, accepted: bool) -> str:
    status = describe_attempt(a)
    css = "ok" if (a.verdict is not None and a.verdict.success) else ("bad" if a.error or a.verdict else "")
    parts = [f'<div class="attempt"><b>attempt {a.attempt_index + 1}</b>'
             f'{" (accepted)" if accepted else ""} <span class="{css}">{escape(status)}</span>']
    if a.image_path:
        parts.append(_img(root, a.image_path, "thumb", f"step {a.step_number} attempt {a.attempt_index + 1}"))
    parts.append(f"<div>prompt: {escape(a.prompt)}</div><div class=meta>seed {a.seed}, generator "
                 f"{a.generator_seconds:.3f} s, critic {a.critic_seconds:.3f} s</div>")
    if a.verdict is not None and a.verdict.reason:
        parts.append(f"<details><summary>critic's reasoning</summary><pre>{escape(a.verdict.reason)}</pre></details>")
    if a.metadata:
        parts.append(f"<details><summary>generator metadata</summary>"
                     f"<pre>{escape(json.dumps(a.metadata, indent=1, default=str))}</pre></details>")
    parts.append("</div>")
    return "".join(parts)


def _step_html(root: Path, index: int, result: StepResult, source_rel: str | None) -> str:
    step = result.step
    title = f"Step {step.step_number}"
    if step.step_name != title:  # planners that name no step get "Step N" as the name
        title += f": {step.step_name}"
    out = [f'<div class="step"><h2>{escape(title)}</h2>',
           f"<p><b>{escape(step.instruction)}</b></p>"]
    if step.auxiliary_text:
        out.append(f'<p class="meta">{escape(step.auxiliary_text)}</p>')
    out.append(f'<p class="meta">generator prompt: {escape(step.prompt)}</p>')
    if result.flagged:
        out.append(f'<p class="flag">flagged: {escape(result.flag_reason or "")}</p>')
    accepted = result.accepted
    if accepted is not None and accepted.image_path:
        out.append(_img(root, accepted.image_path, "main", f"step {step.step_number} accepted image"))
    elif source_rel and result.flag_reason != INTERRUPTED:
        out.append('<p class="meta">no image was produced; the previous image is carried forward:</p>')
        out.append(_img(root, source_rel, "thumb", "carried forward"))
    if result.attempts:
        out.append('<div class="row">')
        out.extend(_attempt_html(root, a, i == result.accepted_index) for i, a in enumerate(result.attempts))
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def render_report(root: Path, trajectory: Trajectory, extras: dict[str, str], summary_extra: dict) -> str:
    """The page's HTML for a loaded trajectory (images read from the run directory)."""
    t = trajectory
    status = ("finished" if t.finished else "not finished") + (f" with error: {t.error}" if t.error else "")
    flagged = sum(1 for s in t.steps if s.flagged)
    body = [f"<h1>{escape(t.task.text)}</h1>",
            f'<p class="meta">{escape(status)}; {len(t.steps)} step(s), {t.generator_calls} generator call(s), '
            f"{t.critic_rejections} critic rejection(s), {flagged} flagged</p>",
            "<h2>Camera image</h2>", _img(root, "observation.png", "main", "observation")]
    if t.plan is not None and t.plan.raw_text:
        body.append(f"<details><summary>planner answer</summary><pre>{escape(t.plan.raw_text)}</pre></details>")
    source_rel = "observation.png"
    for index, result in enumerate(t.steps):
        body.append(_step_html(root, index, result, source_rel))
        if result.accepted is not None and result.accepted.image_path:
            source_rel = result.accepted.image_path
    for title, rel in extras.items():
        body.append(f"<h2>{escape(title)}</h2>{_img(root, rel, 'main', title)}")
    if summary_extra:
        rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(json.dumps(v, default=str))}</td></tr>"
                       for k, v in summary_extra.items())
        body.append(f"<h2>Results</h2><table>{rows}</table>")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>"
            f"{escape(t.task.text)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>")


def write_report(run_dir: str | Path, extra_images: dict[str, np.ndarray] | None = None,
                 out: str | Path | None = None) -> Path:
    """Write `report.html` (or `out`) for the run in `run_dir`; returns its path.

    `extra_images` ({title: RGB uint8 array}) are saved under `extras/` first and shown as
    sections after the steps.
    """
    store = RunStore.open_existing(run_dir)
    for title, image in (extra_images or {}).items():
        store.save_extra_image(title, image)
    trajectory = RunStore.load(store.root, load_images=False)
    html = render_report(store.root, trajectory, store.extra_images(), trajectory.metadata.get("extra") or {})
    path = Path(out) if out else store.root / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
