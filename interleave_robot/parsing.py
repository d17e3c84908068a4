"""Parsing planner and critic answers in the released InterleaveThinker checkpoints' format.

The models answer `<think>...</think><answer>{...}</answer>`. The payload may be JSON, a
Python literal (single quotes, None/True/False), either one inside a ```json fence, or plain
JSON with no tags at all. Everything malformed raises OutputFormatError with the reason;
nothing else escapes (the parsers are fuzzed).

Decisions (documented because they are part of the contract):
- Python-literal payloads are read with `ast.literal_eval` (never `eval`); the JSON words
  `true`/`false`/`null` are also accepted inside them, since models mix the two styles.
- `previous_step_success` must be a boolean (JSON or Python). Strings such as "true" and
  numbers such as 1 are rejected: a format reward built on this parser should reward the
  exact format.
- `refine_prompt` must be a non-empty string when the step failed; when it succeeded it
  may be missing, None, or any string.
- A plan is a list of step objects, or an object with an "execution_plan" (the released
  planner's key, and the one our planner template asks for), "steps" or "plan" list. Each
  step needs `instruction` and `prompt` (non-empty strings); `step_number` (an int in
  0..MAX_STEP_NUMBER, default its position), `step_name` (default "Step N") and
  `auxiliary_text` (str or None) are optional. Step numbers must increase. Unknown keys are
  ignored.
- Every parser runs in time linear in the answer's length (no backtracking regex), and deep
  nesting or huge numbers raise OutputFormatError like any other malformed answer.
"""
from __future__ import annotations

import ast
import json
import re
from typing import Any

from interleave_robot.errors import OutputFormatError
from interleave_robot.types import Plan, PlanStep, Verdict

MAX_TEXT_CHARS = 200_000  # a model answer longer than this is refused before any parsing
MAX_PLAN_STEPS = 64
MAX_STEP_NUMBER = 10_000  # step numbers name image files and log records: keep them short
PLAN_KEYS = ("execution_plan", "steps", "plan")  # keys of a plan object, in order of preference

_FENCE_TAG = re.compile(r"[a-zA-Z0-9_-]*[ \t]*\n?")  # language tag after an opening fence (anchored match)
_JSON_WORDS = {"true": True, "false": False, "null": None}
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, RecursionError, MemoryError)


class _JsonWords(ast.NodeTransformer):
    """Turns the bare names true/false/null into constants so literal_eval accepts them."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _JSON_WORDS:
            return ast.copy_location(ast.Constant(_JSON_WORDS[node.id]), node)
        return node


def split_answer(text: Any) -> tuple[str, str]:
    """Return (think text, answer payload text) from a model answer; OutputFormatError if malformed."""
    if not isinstance(text, str):
        raise OutputFormatError(f"answer must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise OutputFormatError(f"answer is {len(text)} characters, over the {MAX_TEXT_CHARS} bound")
    think = ""
    rest = text
    if "<think>" in rest or "</think>" in rest:
        start = rest.find("<think>")
        end = rest.find("</think>")
        if end < 0:
            raise OutputFormatError("<think> is never closed (answer truncated?)")
        think = rest[start + len("<think>"):end] if 0 <= start < end else rest[:end]
        rest = rest[end + len("</think>"):]
    if "<answer>" in rest:
        # A missing </answer> is tolerated (generation often stops right after the JSON);
        # the payload must still parse completely.
        body = rest.split("<answer>", 1)[1]
        rest = body.split("</answer>", 1)[0]
    elif "</answer>" in rest:
        raise OutputFormatError("</answer> without <answer>")
    rest = _inside_fence(rest).strip()
    if not rest:
        raise OutputFormatError("the answer is empty")
    return think.strip(), rest


def _inside_fence(text: str) -> str:
    """The body of the first ```-fenced block (text itself when there is none). str.find, not a
    backtracking regex: a regex with a lazy body after a greedy tag took O(n^2) on an unclosed fence."""
    start = text.find("```")
    if start < 0:
        return text
    body_start = _FENCE_TAG.match(text, start + 3).end()  # the tag pattern cannot fail and never backtracks far
    end = text.find("```", body_start)
    return text[body_start:end] if end >= 0 else text


def _decode(payload: str) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        pass
    try:
        tree = ast.parse(payload, mode="eval")
        return ast.literal_eval(_JsonWords().visit(tree).body)
    except _LITERAL_ERRORS:
        pass
    # Some answers wrap the object in prose ("Here is the plan: {...}"): try the outermost brackets.
    starts = [i for i in (payload.find("{"), payload.find("[")) if i >= 0]
    if starts:
        start = min(starts)
        end = payload.rfind("}" if payload[start] == "{" else "]")
        if end > start and (start > 0 or end < len(payload) - 1):
            return _decode(payload[start:end + 1])
    raise OutputFormatError(f"the answer is neither JSON nor a Python literal: {_preview(payload)}")


def decode_answer(text: Any) -> tuple[str, Any]:
    """Return (think text, decoded payload) of a model answer."""
    think, payload = split_answer(text)
    return think, _decode(payload)


def _preview(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _require_str(obj: dict, key: str, where: str, *, optional: bool = False, default: str = "") -> str:
    if key not in obj or obj[key] is None:
        if optional:
            return default
        raise OutputFormatError(f"{where}: missing {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise OutputFormatError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    if not optional and not value.strip():
        raise OutputFormatError(f"{where}: {key!r} is empty")
    return value


def _parse_step(obj: Any, position: int) -> PlanStep:
    where = f"step {position + 1}"
    if not isinstance(obj, dict):
        raise OutputFormatError(f"{where} must be an object, got {type(obj).__name__}")
    number = obj.get("step_number", position + 1)
    if isinstance(number, bool) or not isinstance(number, int):
        raise OutputFormatError(f"{where}: 'step_number' must be an integer, got {type(number).__name__}")
    if not 0 <= number <= MAX_STEP_NUMBER:  # compared, never printed: a 5,000-digit int cannot be str()-ed
        raise OutputFormatError(f"{where}: 'step_number' must be in 0..{MAX_STEP_NUMBER}")
    return PlanStep(step_number=number,
                    step_name=_require_str(obj, "step_name", where, optional=True, default=f"Step {number}"),
                    instruction=_require_str(obj, "instruction", where),
                    prompt=_require_str(obj, "prompt", where),
                    auxiliary_text=_require_str(obj, "auxiliary_text", where, optional=True))


def plan_from_payload(payload: Any, raw_text: str = "") -> Plan:
    """Validate a decoded plan payload (list of steps or {"execution_plan"|"steps"|"plan": [...]}) into a Plan."""
    steps = payload
    if isinstance(payload, dict):
        key = next((k for k in PLAN_KEYS if k in payload), None)
        if key is None:
            keys = [_preview(str(k), 40) for k in list(payload)[:10]]
            raise OutputFormatError(f"plan object needs an 'execution_plan', 'steps' or 'plan' list; keys: {keys}")
        steps = payload[key]
    if not isinstance(steps, list):
        raise OutputFormatError(f"plan steps must be a list, got {type(steps).__name__}")
    if not steps:
        raise OutputFormatError("the plan has no steps")
    if len(steps) > MAX_PLAN_STEPS:
        raise OutputFormatError(f"the plan has {len(steps)} steps, over the {MAX_PLAN_STEPS} bound")
    parsed = [_parse_step(obj, i) for i, obj in enumerate(steps)]
    for prev, cur in zip(parsed, parsed[1:]):
        if cur.step_number <= prev.step_number:
            raise OutputFormatError(f"step numbers must increase: {prev.step_number} then {cur.step_number}")
    return Plan(steps=parsed, raw_text=raw_text)


def parse_plan(text: str) -> Plan:
    """Parse a planner answer into a Plan; OutputFormatError with the reason if malformed."""
    _, payload = decode_answer(text)
    return plan_from_payload(payload, raw_text=text)


def parse_verdict(text: str) -> Verdict:
    """Parse a critic answer into a Verdict; OutputFormatError with the reason if malformed.

    The `<think>` text becomes `Verdict.reason`; the whole answer is kept in `raw_text`.
    """
    think, payload = decode_answer(text)
    if not isinstance(payload, dict):
        raise OutputFormatError(f"the verdict must be an object, got {type(payload).__name__}")
    if "previous_step_success" not in payload:
        raise OutputFormatError("the verdict lacks 'previous_step_success'")
    success = payload["previous_step_success"]
    if not isinstance(success, bool):
        raise OutputFormatError(f"'previous_step_success' must be true or false, got {type(success).__name__}")
    refine = payload.get("refine_prompt")
    if refine is not None and not isinstance(refine, str):
        raise OutputFormatError(f"'refine_prompt' must be a string, got {type(refine).__name__}")
    if not success and not (refine or "").strip():
        raise OutputFormatError("a failed step needs a non-empty 'refine_prompt'")
    return Verdict(success=success, refine_prompt=refine or "", raw_text=text, reason=think)
