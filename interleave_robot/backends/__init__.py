"""Backends: VLM chat models, planner/critic agents on top of them, image generators."""
