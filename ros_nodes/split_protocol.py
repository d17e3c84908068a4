"""The split mode's request/response messages: JSON on std_msgs/String topics.

Each agent role has two topics, `<prefix>/<role>/request` and `<prefix>/<role>/response`
(reliable). A request carries an `id` (client id + counter) that its response repeats, so
several clients can share one server. Images travel as base64 PNG (lossless, and what the
InterleaveThinker generator contract and the OpenAI image parts use); simulator state, when
there is any, through a state codec (context.py).

Errors cross the wire as {"ok": false, "error_kind": "format"|"backend", "error": text} and
become OutputFormatError (the pipeline retries it) or BackendError on the client side.
"""
from __future__ import annotations

import json
from typing import Any

from interleave_robot.errors import BackendError, OutputFormatError
from interleave_robot.images import image_from_base64, image_to_base64
from interleave_robot.types import (CameraModel, CritiqueRequest, GenerationRequest, GenerationResult, Observation, Plan, PlanStep, SceneObject,
                     Task, Verdict)
from interleave_robot.ros_nodes.context import MessageError, StateCodec, loads_object

ROLES = ("planner", "generator", "critic")
MAX_SPLIT_CHARS = 96 * 1024 * 1024  # base64 of the 64 MiB image bound, plus the JSON around it


def _image(value: Any, what: str):
    return None if value is None else image_from_base64(value, what)


def _b64(image) -> str | None:
    return None if image is None else image_to_base64(image)


def encode_request(role: str, request_id: str, request: Any, codec: StateCodec) -> str:
    """A planner request is (task, observation); generator/critic requests are their dataclasses."""
    body: dict[str, Any] = {"id": request_id}
    if role == "planner":
        task, observation = request
        body.update(task=task.to_dict(), image=_b64(observation.image),
                    camera=observation.camera.to_dict() if observation.camera else None,
                    inventory=[o.to_dict() for o in observation.inventory],
                    state=codec.encode(observation.state), timestamp=observation.timestamp)
    elif role == "generator":
        body.update(prompt=request.prompt, seed=request.seed, image=_b64(request.source_image),
                    state=codec.encode(request.source_state),
                    step=request.step.to_dict() if request.step else None)
    else:
        body.update(before=_b64(request.before_image), after=_b64(request.after_image),
                    instruction=request.instruction, prompt=request.prompt,
                    step=request.step.to_dict() if request.step else None,
                    plan=request.plan.to_dict() if request.plan else None,
                    task_text=request.task_text, inventory=[o.to_dict() for o in request.inventory],
                    camera=request.camera.to_dict() if request.camera else None)
    return json.dumps(body)


def decode_request(role: str, text: str, codec: StateCodec) -> tuple[str, Any]:
    """-> (request id, the request object); MessageError (or ImageError) if malformed."""
    body = loads_object(text, f"{role} request", MAX_SPLIT_CHARS)
    request_id = body.get("id")
    if not isinstance(request_id, str) or not request_id:
        raise MessageError(f"{role} request needs a string \"id\"")
    try:
        step = PlanStep.from_dict(body["step"]) if body.get("step") else None
        camera = CameraModel.from_dict(body["camera"]) if body.get("camera") else None
        if role == "planner":
            observation = Observation(image=_image(body.get("image"), "observation image"), camera=camera,
                                      state=codec.decode(body.get("state")), timestamp=float(body.get("timestamp", 0)),
                                      inventory=[SceneObject.from_dict(o) for o in body.get("inventory") or []])
            if observation.image is None:
                raise MessageError("planner request needs an \"image\"")
            return request_id, (Task.from_dict(body["task"]), observation)
        if role == "generator":
            if not isinstance(body.get("prompt"), str) or not isinstance(body.get("seed"), int):
                raise MessageError("generator request needs a string \"prompt\" and an integer \"seed\"")
            return request_id, GenerationRequest(prompt=body["prompt"], seed=body["seed"],
                                                 source_image=_image(body.get("image"), "source image"),
                                                 source_state=codec.decode(body.get("state")), step=step)
        before, after = _image(body.get("before"), "before image"), _image(body.get("after"), "after image")
        if before is None or after is None:
            raise MessageError("critic request needs \"before\" and \"after\" images")
        return request_id, CritiqueRequest(
            before_image=before, after_image=after, instruction=str(body.get("instruction", "")),
            prompt=str(body.get("prompt", "")), step=step,
            plan=Plan.from_dict(body["plan"]) if body.get("plan") else None,
            task_text=str(body.get("task_text", "")), camera=camera,
            inventory=[SceneObject.from_dict(o) for o in body.get("inventory") or []])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MessageError):
            raise
        raise MessageError(f"{role} request is malformed: {exc!r}") from None


def encode_response(role: str, request_id: str, result: Any, codec: StateCodec) -> str:
    body: dict[str, Any] = {"id": request_id, "ok": True}
    if role == "planner":
        body["plan"] = result.to_dict()
    elif role == "generator":
        body.update(image=_b64(result.image), state=codec.encode(result.state), metadata=result.metadata)
    else:
        body["verdict"] = result.to_dict()
    return json.dumps(body)


def encode_error(request_id: str, exc: BaseException) -> str:
    kind = "format" if isinstance(exc, OutputFormatError) else "backend"
    return json.dumps({"id": request_id, "ok": False, "error_kind": kind,
                       "error": f"{type(exc).__name__}: {exc}"[:2000]})


def response_id(text: str) -> str | None:
    """The id of a response without decoding its images (clients skip others' responses)."""
    try:
        body = loads_object(text, "response", MAX_SPLIT_CHARS)
    except MessageError:
        return None
    value = body.get("id")
    return value if isinstance(value, str) else None


def decode_response(role: str, text: str, codec: StateCodec) -> Any:
    """-> Plan / GenerationResult / Verdict; raises what the remote backend raised (typed)."""
    body = loads_object(text, f"{role} response", MAX_SPLIT_CHARS)
    if not body.get("ok"):
        error = str(body.get("error", "unknown error"))
        if body.get("error_kind") == "format":
            raise OutputFormatError(f"remote {role}: {error}")
        raise BackendError(f"remote {role}: {error}")
    try:
        if role == "planner":
            return Plan.from_dict(body["plan"])
        if role == "generator":
            image = _image(body.get("image"), "generated image")
            if image is None:
                raise BackendError("remote generator answered without an image")
            return GenerationResult(image=image, state=codec.decode(body.get("state")),
                                    metadata=dict(body.get("metadata") or {}))
        return Verdict.from_dict(body["verdict"])
    except (KeyError, TypeError) as exc:
        raise BackendError(f"remote {role} answered a malformed response: {exc!r}") from None
