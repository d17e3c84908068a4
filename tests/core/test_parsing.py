"""parse_plan / parse_verdict on the released checkpoints' answer style, and under fuzzing."""
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interleave_robot import OutputFormatError, parse_plan, parse_verdict
from interleave_robot.parsing import MAX_PLAN_STEPS, MAX_TEXT_CHARS

PLAN_PY = """<think>The red block must go on the blue one first, then green on top.</think>
<answer>[{'step_number': 1, 'step_name': 'Red on blue', 'instruction': 'Place the red block on the blue block.',
'prompt': 'Move the red block onto the blue block; keep everything else unchanged.', 'auxiliary_text': None},
{'step_number': 2, 'step_name': 'Green on red', 'instruction': 'Place the green block on the red block.',
'prompt': "Put the green block on top of the red block, it's the top of the tower."}]</answer>"""

VERDICT_PY = ("<think>The red block is still on the table; the edit did nothing.</think>"
              "<answer>{'previous_step_success': False, 'refine_prompt': 'Lift the red block and set it on the "
              "blue block, centred.'}</answer>")


def test_released_style_plan():
    plan = parse_plan(PLAN_PY)
    assert [s.step_number for s in plan.steps] == [1, 2]
    assert plan.steps[0].instruction == "Place the red block on the blue block."
    assert plan.steps[0].auxiliary_text == ""  # None becomes ""
    assert plan.steps[1].prompt.endswith("top of the tower.")
    assert plan.raw_text == PLAN_PY


def test_released_style_verdict():
    verdict = parse_verdict(VERDICT_PY)
    assert verdict.success is False
    assert verdict.refine_prompt.startswith("Lift the red block")
    assert verdict.reason == "The red block is still on the table; the edit did nothing."
    assert verdict.raw_text == VERDICT_PY


@pytest.mark.parametrize("text, success, refine", [
    ('<answer>{"previous_step_success": true, "refine_prompt": ""}</answer>', True, ""),
    ('<think>ok</think>\n<answer>\n```json\n{"previous_step_success": true}\n```\n</answer>', True, ""),
    ('```json\n{"previous_step_success": false, "refine_prompt": "again"}\n```', False, "again"),
    ('{"previous_step_success": true, "refine_prompt": null}', True, ""),
    ("{'previous_step_success': true, 'refine_prompt': None}", True, ""),  # mixed JSON/Python words
    ('<think>x</think><answer>{"previous_step_success": false, "refine_prompt": "left"}', False, "left"),  # no </answer>
    ('Verdict: {"previous_step_success": true} as requested.', True, ""),  # prose around the object
])
def test_verdict_variants(text, success, refine):
    verdict = parse_verdict(text)
    assert (verdict.success, verdict.refine_prompt) == (success, refine)


@pytest.mark.parametrize("payload", [
    lambda steps: steps,
    lambda steps: {"steps": steps},
    lambda steps: {"plan": steps, "notes": "ignored"},
])
def test_plan_shapes(payload):
    steps = [{"instruction": "a", "prompt": "pa"}, {"instruction": "b", "prompt": "pb", "step_name": "B"}]
    plan = parse_plan(json.dumps(payload(steps)))
    assert [(s.step_number, s.step_name, s.prompt) for s in plan.steps] == [(1, "Step 1", "pa"), (2, "B", "pb")]


@pytest.mark.parametrize("text, reason", [
    ('<answer>{"previous_step_success": "true"}</answer>', "must be true or false"),
    ('<answer>{"previous_step_success": 1}</answer>', "must be true or false"),
    ('<answer>{"refine_prompt": "x"}</answer>', "lacks 'previous_step_success'"),
    ('<answer>{"previous_step_success": false}</answer>', "non-empty 'refine_prompt'"),
    ('<answer>{"previous_step_success": false, "refine_prompt": "  "}</answer>', "non-empty 'refine_prompt'"),
    ('<answer>{"previous_step_success": true, "refine_prompt": 3}</answer>', "'refine_prompt' must be a string"),
    ('<answer>[true]</answer>', "must be an object"),
    ("<think>I am still thinking", "never closed"),
    ("<answer></answer>", "empty"),
    ("", "empty"),
    ("{'previous_step_success': Tru", "neither JSON nor a Python literal"),
    ("{'previous_step_success': __import__('os').system('true')}", "neither JSON nor a Python literal"),
])
def test_verdict_errors(text, reason):
    with pytest.raises(OutputFormatError, match=reason):
        parse_verdict(text)


@pytest.mark.parametrize("payload, reason", [
    ([], "no steps"),
    ({"stages": []}, "'steps' or 'plan'"),
    ({"steps": "do it"}, "must be a list"),
    (["do it"], "must be an object"),
    ([{"instruction": "a"}], "missing 'prompt'"),
    ([{"instruction": "", "prompt": "p"}], "'instruction' is empty"),
    ([{"instruction": ["a"], "prompt": "p"}], "'instruction' must be a string"),
    ([{"instruction": "a", "prompt": "p", "step_number": "1"}], "must be an integer"),
    ([{"instruction": "a", "prompt": "p", "step_number": True}], "must be an integer"),
    ([{"instruction": "a", "prompt": "p", "step_number": 2}, {"instruction": "b", "prompt": "q", "step_number": 2}],
     "must increase"),
    ([{"instruction": "a", "prompt": "p", "auxiliary_text": {"x": 1}}], "'auxiliary_text' must be a string"),
    ([{"instruction": "a", "prompt": "p"}] * (MAX_PLAN_STEPS + 1), "over the"),
])
def test_plan_errors(payload, reason):
    with pytest.raises(OutputFormatError, match=reason):
        parse_plan(json.dumps(payload))


def test_bounds_and_types():
    with pytest.raises(OutputFormatError, match="over the"):
        parse_verdict(" " * (MAX_TEXT_CHARS + 1))
    with pytest.raises(OutputFormatError, match="must be a string"):
        parse_plan(None)
    with pytest.raises(OutputFormatError):
        parse_plan("[" * 100_000)  # deep nesting must not escape as RecursionError
    with pytest.raises(OutputFormatError):
        parse_verdict("{'a': " * 20_000)
    assert issubclass(OutputFormatError, ValueError)


# --- fuzzing: whatever the text, the parsers return or raise OutputFormatError, nothing else ---
_FUZZ = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["previous_step_success", "refine_prompt", "execution_plan", "steps", "plan", "instruction",
                         "prompt", "step_number", "step_name", "auxiliary_text"]) | st.text(max_size=8), inner, max_size=5),
    max_leaves=20)


def _check(text: str) -> None:
    for parse in (parse_plan, parse_verdict):
        try:
            parse(text)
        except OutputFormatError:
            pass


@_FUZZ
@given(st.text(max_size=300))
def test_fuzz_garbage(text):
    _check(text)
    _check(f"<think>{text}</think><answer>{text}</answer>")


@_FUZZ
@given(_json_values, st.sampled_from([json.dumps, repr]), st.booleans())
def test_fuzz_structures(value, dump, fenced):
    body = dump(value)
    _check(f"<think>t</think><answer>{'```json' if fenced else ''}\n{body}\n{'```' if fenced else ''}</answer>")


@_FUZZ
@given(st.sampled_from([PLAN_PY, VERDICT_PY]), st.data())
def test_fuzz_truncation_and_mutation(text, data):
    cut = data.draw(st.integers(0, len(text)))
    _check(text[:cut])
    pos = data.draw(st.integers(0, len(text) - 1))
    _check(text[:pos] + data.draw(st.sampled_from(["'", '"', "}", "{", "[", "]", ",", ":", "<", "\\", "\x00"])) + text[pos:])


# --- issue 8: the released planner's shape, linear time, bounded step numbers ---
RELEASED_PLAN = """<think>Two blocks to stack: red on blue, then green on red.</think><answer>{'execution_plan': [
{'step_number': 1, 'step_name': 'Red on blue', 'instruction': 'Place the red block on the blue block.',
 'prompt': 'Move the red block onto the blue block; keep everything else unchanged.', 'auxiliary_text': None},
{'step_number': 2, 'step_name': 'Green on red', 'instruction': 'Place the green block on the red block.',
 'prompt': 'Put the green block on top of the red block.', 'auxiliary_text': None}]}</answer>"""


def test_released_planner_execution_plan_shape():
    plan = parse_plan(RELEASED_PLAN)
    assert [(s.step_number, s.step_name) for s in plan.steps] == [(1, "Red on blue"), (2, "Green on red")]
    assert plan.steps[1].prompt == "Put the green block on top of the red block."
    assert all(s.auxiliary_text == "" for s in plan.steps)


def test_planner_template_asks_for_execution_plan():
    from interleave_robot.backends.vlm_agents import load_template

    text = load_template("", "planner.txt", ("task", "max_steps")).template
    assert '"execution_plan"' in text
    example = text[text.rindex("<think>"):].strip()  # the answer example the template shows must parse
    assert [s.step_number for s in parse_plan(example).steps] == [1]


@pytest.mark.parametrize("text", [
    "```" + "a" * 150_000,  # an unclosed fence after a long tag: quadratic with the old regex (90 s)
    "```\n" + "x" * 150_000,
    "`" * 150_000,
    "```json\n" * 18_000,
    "<answer>" + "```a" * 40_000,
])
def test_parsers_linear_time_on_fences(text):
    t0 = time.perf_counter()
    _check(text)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("number, reason", [
    (10 ** 250, "0..10000"),  # used to pass and abort the run on a too-long image file name
    (-1, "0..10000"),
    (10_001, "0..10000"),
])
def test_step_number_bounds(number, reason):
    with pytest.raises(OutputFormatError, match=reason):
        parse_plan(repr([{"instruction": "a", "prompt": "p", "step_number": number}]))


@pytest.mark.parametrize("digits", [4299, 4301, 6000])
def test_huge_integers_are_format_errors(digits):
    big = "7" * digits
    for text in (f'[{{"instruction": "a", "prompt": "p", "step_number": {big}}}]',
                 f"[{{'instruction': 'a', 'prompt': 'p', 'step_number': {big}}}]",
                 f'{{"previous_step_success": {big}}}'):
        with pytest.raises(OutputFormatError):
            parse_plan(text) if "instruction" in text else parse_verdict(text)


def test_deep_nesting_in_each_style():
    for text in ("[" * 50_000 + "]" * 50_000, "{'a': " * 30_000 + "1" + "}" * 30_000,
                 '{"execution_plan": ' + "[" * 100_000):
        _check(text)


_ADVERSARIAL = {
    "list": "[1,", "quotes": "'", "dquotes": '"', "keys": '{"a":', "think": "<think>", "answers": "<answer>",
    "nested": "{'a': [", "prose_braces": "x{", "digits": "1", "parens": "(", "backslashes": "\\",
    "steps": "[{'step_number': 1, 'instruction': 'a', 'prompt': 'b'},",
}


@pytest.mark.parametrize("unit", list(_ADVERSARIAL.values()), ids=list(_ADVERSARIAL))
def test_adversarial_answers_at_the_length_bound_parse_fast(unit):
    text = (unit * (MAX_TEXT_CHARS // len(unit) + 1))[:MAX_TEXT_CHARS]
    t0 = time.perf_counter()
    _check(text)
    assert time.perf_counter() - t0 < 1.0  # measured worst 0.07 s over these shapes
