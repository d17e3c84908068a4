"""Backend modules import no heavy library until a backend is built (fast `import interleave_robot`, fast CLI)."""
from __future__ import annotations

import subprocess
import sys

MODULES = ["interleave_robot.backends.vlm_base", "interleave_robot.backends.vlm_transformers",
           "interleave_robot.backends.vlm_openai", "interleave_robot.backends.vlm_agents",
           "interleave_robot.backends.generator_diffusers", "interleave_robot.backends.generator_http",
           "interleave_robot.backends.tiny_vlm", "interleave_robot.generator_server",
           "interleave_robot.cli.serve_generator_cmd", "interleave_robot.backends.http_call", "interleave_robot.deadlines",
           "interleave_robot.linger"]


def test_backend_modules_import_light():
    code = ("import sys\n" + "".join(f"import {m}\n" for m in MODULES) +
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
