"""Which pip extra brings a missing package: the one line a `pip install interleave-robot` user reads.

The core install is light; each heavy stack is an extra (setup.py `EXTRAS`). When a command or a
backend needs a package that is not installed, the error names the extra to install.
"""
from __future__ import annotations

# Top-level import name -> the extra of setup.py that installs it.
EXTRA_OF_PACKAGE = {
    **dict.fromkeys(("mujoco", "gymnasium", "scipy", "statsmodels", "matplotlib", "metaworld"), "sim"),
    **dict.fromkeys(("rclpy", "cyclonedds", "rosbags", "mcap", "sensor_msgs", "std_msgs", "lifecycle_msgs"), "ros"),
    **dict.fromkeys(("torch", "transformers", "tokenizers", "trl", "peft", "datasets", "accelerate",
                     "safetensors"), "train"),
    "diffusers": "diffusers",
    "ray": "ray",
    "requests": "test",
}


def missing_extra(exc: ImportError) -> str | None:
    """The extra that provides the module `exc` could not import (None when it is not ours to name)."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    return EXTRA_OF_PACKAGE.get(name)


def describe_import_error(exc: ImportError) -> str:
    """'needs the sim extra: pip install "interleave-robot[sim]" (No module named 'mujoco')'."""
    extra = missing_extra(exc)
    if extra is None:
        return f"a package is missing ({exc})"
    return f"needs the {extra} extra: pip install \"interleave-robot[{extra}]\" ({exc})"
