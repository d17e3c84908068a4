"""Subgoal language: parse an instruction/prompt against a scene, and write one back.

`parse_instruction("put the red one on the blue block", spec)` -> Subgoal(obj, relation,
reference, explicitness). The simulated generator, the perception critic and the teacher all
speak through it, so "what the prompt means" has one definition.

Explicitness (0..1) measures how fully a prompt names what it means, and drives the simulated
generator's fault law (vague prompts fail more often):
  moved object:  colour named 0.2, noun named (block/cube/cylinder) 0.2
  relation:      explicit phrase ("on top of", "inside", "to the left of", ...) 0.2, vague ("on", "in", "by") 0.1
  reference(s):  colour named 0.2 ("its bin" 0.1), noun named 0.2 (averaged over both for "between")
`describe_subgoal` writes the fully explicit form (explicitness 1.0).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from interleave_robot.sim_envs.scene import COLORS, ObjectSpec, SceneSpec

RELATIONS = ("on", "in", "left_of", "right_of", "next_to", "between")

# Phrase (token tuple) -> (relation, explicit?). Longest phrases are matched first.
_RELATION_PHRASES: dict[tuple[str, ...], tuple[str, bool]] = {
    ("on", "top", "of"): ("on", True), ("onto",): ("on", True), ("atop",): ("on", True),
    ("on",): ("on", False), ("upon",): ("on", False),
    ("inside",): ("in", True), ("into",): ("in", True), ("in",): ("in", False),
    ("to", "the", "left", "of"): ("left_of", True), ("left", "of"): ("left_of", True),
    ("to", "the", "right", "of"): ("right_of", True), ("right", "of"): ("right_of", True),
    ("next", "to"): ("next_to", True), ("beside",): ("next_to", False), ("by",): ("next_to", False),
    ("near",): ("next_to", False),
    ("between",): ("between", True), ("in", "between"): ("between", True),
}
_MAX_PHRASE = max(len(p) for p in _RELATION_PHRASES)
_BLOCK_NOUNS = {"block": None, "blocks": None, "cube": "cube", "cubes": "cube",
                "cylinder": "cylinder", "cylinders": "cylinder"}
_BIN_NOUNS = {"bin", "bins", "tray", "trays", "basket", "baskets"}
_VAGUE_NOUNS = {"one", "ones"}
# Words that may sit before a noun without being a colour ("the big block" is not a colour error).
_NOT_COLOURS = {"the", "a", "an", "its", "their", "same", "matching", "own", "other", "each", "that",
                "this", "and", "of", "to", "on", "in", "into", "onto", "coloured", "colored", "every",
                "top", "left", "right", "next", "between", "it", "so", "is"}
_PHRASE_TEXT = {"on": "on top of", "in": "inside", "left_of": "to the left of",
                "right_of": "to the right of", "next_to": "next to"}
MAX_PROMPT_CHARS = 2000


class PromptParseError(ValueError):
    """A prompt that names no known object, no relation, or an ambiguous one (reason in the message)."""


@dataclass
class Subgoal:
    """Move `obj` so that `relation` holds with `reference` (object names; two for "between")."""

    obj: str
    relation: str
    reference: list[str] = field(default_factory=list)
    explicitness: float = 1.0

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"unknown relation {self.relation!r}; known: {', '.join(RELATIONS)}")
        expected = 2 if self.relation == "between" else 1
        if len(self.reference) != expected:
            raise ValueError(f"relation {self.relation!r} needs {expected} reference object(s), "
                             f"got {self.reference!r}")

    def to_dict(self) -> dict:
        return {"obj": self.obj, "relation": self.relation, "reference": list(self.reference),
                "explicitness": self.explicitness}

    @classmethod
    def from_dict(cls, data: dict) -> "Subgoal":
        return cls(data["obj"], data["relation"], list(data["reference"]), float(data.get("explicitness", 1.0)))


@dataclass
class _Mention:
    start: int
    end: int  # token index after the mention
    color: str | None  # a colour name, "<same>" for "its/matching bin", or None
    noun: str | None  # "block" | "cube" | "cylinder" | "bin" | None (vague "one")


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower().replace("-", " "))


def _mentions(tokens: list[str]) -> list[_Mention]:
    found: list[_Mention] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in COLORS:
            noun = _noun(nxt)
            used = 2 if (noun is not None or nxt in _VAGUE_NOUNS) else 1
            found.append(_Mention(i, i + used, tok, noun))
            i += used
            continue
        if tok in ("its", "matching", "same") and _noun(nxt) == "bin":
            found.append(_Mention(i, i + 2, "<same>", "bin"))
            i += 2
            continue
        noun = _noun(tok)
        if noun is not None:
            prev = tokens[i - 1] if i > 0 else ""
            if prev and prev not in _NOT_COLOURS and prev not in COLORS and len(prev) > 2:
                raise PromptParseError(f"unknown colour {prev!r} in {' '.join(tokens)!r}; "
                                       f"known colours: {', '.join(COLORS)}")
            found.append(_Mention(i, i + 1, None, noun))
        i += 1
    return found


def _noun(token: str) -> str | None:
    if token in _BLOCK_NOUNS:
        return _BLOCK_NOUNS[token] or "block"
    if token in _BIN_NOUNS:
        return "bin"
    return None


def _find_relation(tokens: list[str], start: int) -> tuple[str, bool, int] | None:
    """The first relation phrase at or after token `start`: (relation, explicit, end index)."""
    for i in range(start, len(tokens)):
        for n in range(_MAX_PHRASE, 0, -1):
            phrase = tuple(tokens[i:i + n])
            if phrase in _RELATION_PHRASES:
                relation, explicit = _RELATION_PHRASES[phrase]
                return relation, explicit, i + n
    return None


def _matches(obj: ObjectSpec, mention: _Mention, same_as: ObjectSpec | None) -> bool:
    color = same_as.color if mention.color == "<same>" and same_as else mention.color
    if color is not None and obj.color != color:
        return False
    if mention.noun == "bin":
        return obj.kind == "bin"
    if mention.noun in ("block", "cube", "cylinder"):
        return obj.kind == "block" and (mention.noun == "block" or obj.shape == mention.noun)
    return True


def _resolve(mention: _Mention, spec: SceneSpec, prefer: str, same_as: ObjectSpec | None = None) -> ObjectSpec:
    candidates = [o for o in spec.objects if _matches(o, mention, same_as)]
    if len(candidates) > 1 and mention.noun is None:
        preferred = [o for o in candidates if o.kind == prefer]
        candidates = preferred or candidates
    what = " ".join(filter(None, [mention.color if mention.color != "<same>" else "matching", mention.noun or "one"]))
    if not candidates:
        names = ", ".join(o.words for o in spec.objects)
        raise PromptParseError(f"no {what} in the scene (it has: {names})")
    if len(candidates) > 1:
        raise PromptParseError(f"'{what}' is ambiguous: {', '.join(o.words for o in candidates)}")
    return candidates[0]


def _mention_score(mention: _Mention) -> float:
    colour = 0.1 if mention.color == "<same>" else (0.2 if mention.color else 0.0)
    return colour + (0.2 if mention.noun else 0.0)


def parse_instruction(text: str, spec: SceneSpec) -> Subgoal:
    """Parse one step's instruction or prompt; PromptParseError with the reason if it cannot."""
    if not isinstance(text, str) or not text.strip():
        raise PromptParseError("empty prompt")
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptParseError(f"prompt is {len(text)} characters, over the {MAX_PROMPT_CHARS} bound")
    tokens = _tokens(text)
    mentions = _mentions(tokens)
    if not mentions:
        raise PromptParseError(f"no object named in {text!r} (name one by colour, e.g. 'the red block')")
    first = mentions[0]
    found = _find_relation(tokens, first.end)
    if found is None:
        raise PromptParseError(f"no spatial relation in {text!r} (on, in, left of, right of, next to, between)")
    relation, explicit, rel_end = found
    refs = [m for m in mentions[1:] if m.start >= rel_end]
    needed = 2 if relation == "between" else 1
    if len(refs) < needed:
        raise PromptParseError(f"relation '{relation}' in {text!r} needs {needed} reference object(s)")
    refs = refs[:needed]
    moved = _resolve(first, spec, prefer="block")
    if moved.kind != "block":
        raise PromptParseError(f"the {moved.words} cannot be moved (only blocks move)")
    prefer_ref = "bin" if relation == "in" else "block"
    ref_objs = [_resolve(m, spec, prefer=prefer_ref, same_as=moved) for m in refs]
    if any(r.name == moved.name for r in ref_objs):
        raise PromptParseError(f"{text!r} relates the {moved.words} to itself")
    if relation == "in" and ref_objs[0].kind != "bin":
        relation = "on"  # "put red in blue" where blue is a block: the only sensible reading
    if relation == "between" and ref_objs[0].name == ref_objs[1].name:
        raise PromptParseError(f"'between' in {text!r} needs two different objects")
    score = _mention_score(first) + (0.2 if explicit else 0.1)
    score += sum(_mention_score(m) for m in refs) / len(refs)
    return Subgoal(moved.name, relation, [r.name for r in ref_objs], round(min(1.0, score), 3))


def describe_subgoal(subgoal: Subgoal, spec: SceneSpec) -> str:
    """The most explicit prompt for a subgoal (parses back to it with explicitness 1.0)."""
    obj = spec.get(subgoal.obj).words
    refs = [spec.get(r).words for r in subgoal.reference]
    if subgoal.relation == "between":
        where = f"between the {refs[0]} and the {refs[1]}"
    else:
        where = f"{_PHRASE_TEXT[subgoal.relation]} the {refs[0]}"
    return f"Move the {obj} so that it is {where}. Keep every other object where it is."


def natural_phrases(subgoal: Subgoal, spec: SceneSpec) -> list[str]:
    """Everyday phrasings of a subgoal, as a person would say them (less explicit on purpose)."""
    o = spec.get(subgoal.obj)
    r = [spec.get(name) for name in subgoal.reference]
    oc, rc = o.color, r[0].color
    rel = subgoal.relation
    if rel == "on":
        return [f"Put the {oc} one on the {rc} one.", f"Stack {oc} on {rc}.",
                f"Place the {o.words} on the {rc} one."]
    if rel == "in":
        own = [f"Drop the {oc} one in its bin.", f"Put the {oc} one in the matching bin."] if oc == rc else []
        return own + [f"Put the {oc} one in the {rc} bin.", f"Drop {oc} in the {rc} tray."]
    if rel in ("left_of", "right_of"):
        side = "left" if rel == "left_of" else "right"
        return [f"Move {oc} to the {side} of {rc}.", f"Put the {oc} one {side} of the {rc} one.",
                f"Place the {o.words} {side} of {rc}."]
    if rel == "next_to":
        return [f"Put the {oc} one by the {rc} one.", f"Move {oc} beside {rc}.", f"Set the {oc} one near the {rc} one."]
    return [f"Put the {oc} one between the {rc} and {r[1].color} ones.",
            f"Move {oc} between {rc} and {r[1].color}."]
