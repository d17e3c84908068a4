"""report.html: self-contained, escaped, interleaved, with extras."""
import base64
import json
import re

import numpy as np

from interleave_robot.images import decode_image_bytes
from interleave_robot.report import write_report
from interleave_robot.store import TRAJECTORY, RunStore

from .conftest import make_pipeline

_DATA_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _run(tmp_path, observation, task="stack <b>red</b> & blue", **kwargs):
    root = tmp_path / "run"
    traj = make_pipeline(**kwargs).run(task, observation, store=RunStore.create(root))
    return root, traj


def test_report_is_self_contained_and_interleaved(tmp_path, observation):
    root, traj = _run(tmp_path, observation, critic={"reject_first": 1}, generator={"fail_calls": [0]})
    html = write_report(root).read_text()
    assert "<script" not in html and "<b>red</b>" not in html and "stack &lt;b&gt;red&lt;/b&gt; &amp; blue" in html
    assert not re.search(r"(src|href)=\"(?!data:)", html) and "http://" not in html and "https://" not in html
    images = [decode_image_bytes(base64.b64decode(m)) for m in _DATA_URI.findall(html)]
    # the observation, then per step its accepted image and every attempt that produced one
    with_image = sum(1 for s in traj.steps for a in s.attempts if a.image is not None)
    assert len(images) == 1 + len(traj.steps) + with_image
    assert np.array_equal(images[0], observation.image)
    positions = [html.index(s.step.instruction) for s in traj.steps]
    assert positions == sorted(positions)  # steps appear in order
    assert "[refined]" in html and "injected failure" in html and "rejected" in html


def test_report_flags_and_carried_forward(tmp_path, observation):
    root, traj = _run(tmp_path, observation, generator={"fail_calls": [0, 1, 2]}, critic={"accept": False},
                      max_attempts_per_step=3)
    html = write_report(root).read_text()
    assert html.count('class="flag"') == 3 and "carried forward" in html and "without approval" in html


def test_extra_images_and_results_survive_regeneration(tmp_path, observation):
    root, _ = _run(tmp_path, observation)
    RunStore.open_existing(root).write_summary(extra={"task_success": True})
    scene = np.full((8, 8, 3), 200, np.uint8)
    write_report(root, extra_images={"Final <scene>": scene})
    html = write_report(root).read_text()  # as `interleave-robot report DIR` would, without the array
    assert "Final &lt;scene&gt;" in html and "task_success" in html
    assert any(np.array_equal(decode_image_bytes(base64.b64decode(m)), scene) for m in _DATA_URI.findall(html))


def test_report_of_killed_run_and_no_path_escape(tmp_path, observation):
    root, _ = _run(tmp_path, observation)
    secret = tmp_path / "secret.png"
    secret.write_bytes((root / "observation.png").read_bytes())
    records = [json.loads(line) for line in (root / TRAJECTORY).read_text().splitlines()]
    records = [r for r in records if r["type"] != "end"][:4]  # killed during step 2
    records[-1]["image_path"] = "../secret.png"  # a tampered path must never be inlined
    (root / TRAJECTORY).write_text("".join(json.dumps(r) + "\n" for r in records))
    html = write_report(root, out=tmp_path / "r.html").read_text()
    assert "not finished" in html and "interrupted" in html
    assert len(_DATA_URI.findall(html)) == 3  # observation, step 1 accepted + its attempt; not the secret
