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

from interleave_robot.sim_envs.relations import RELATIONS
from interleave_robot.sim_envs.scene import COLORS, ObjectSpec, SceneSpec

_BLOCK_NOUNS = {"block": None, "blocks": None, "cube": "cube", "cubes": "cube",
                "cylinder": "cylinder", "cylinders": "cylinder"}
_BIN_NOUNS = {"bin", "bins", "tray", "trays", "basket", "baskets"}
_VAGUE_NOUNS = {"one", "ones"}
# Words that may sit before a noun without being a colour ("the big block" is not a colour error).
_NOT_COLOURS = {"the", "a", "an", "its", "their", "same", "matching", "own", "other", "each", "that",
                "this", "and", "of", "to", "on", "in", "into", "onto", "coloured", "colored", "every",
                "top", "left", "right", "next", "between", "it", "so", "is"}
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
        expected = RELATIONS[self.relation].references
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
    """The first relation phrase at or after token `start`: (relation, explicit, end index).
    Phrases come from the relation table (read per call, so a new entry needs nothing else);
    at one position the longest phrase wins ("in between" over "in")."""
    phrases = {p: (rel.name, explicit) for rel in RELATIONS.values() for p, explicit in rel.keywords.items()}
    longest = max(len(p) for p in phrases)
    for i in range(start, len(tokens)):
        for n in range(longest, 0, -1):
            phrase = tuple(tokens[i:i + n])
            if phrase in phrases:
                relation, explicit = phrases[phrase]
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
        known = ", ".join(r.explicit_text for r in RELATIONS.values())
        raise PromptParseError(f"no spatial relation in {text!r} ({known})")
    name, explicit, rel_end = found
    relation = RELATIONS[name]
    refs = [m for m in mentions[1:] if m.start >= rel_end]
    needed = relation.references
    if len(refs) < needed:
        raise PromptParseError(f"relation '{name}' in {text!r} needs {needed} reference object(s)")
    refs = refs[:needed]
    moved = _resolve(first, spec, prefer="block")
    if moved.kind != "block":
        raise PromptParseError(f"the {moved.words} cannot be moved (only blocks move)")
    ref_objs = [_resolve(m, spec, prefer=relation.reference_kind, same_as=moved) for m in refs]
    if any(r.name == moved.name for r in ref_objs):
        raise PromptParseError(f"{text!r} relates the {moved.words} to itself")
    if len({r.name for r in ref_objs}) < len(ref_objs):
        raise PromptParseError(f"'{name}' in {text!r} needs {needed} different objects")
    relation = relation.resolve(ref_objs)
    score = _mention_score(first) + (0.2 if explicit else 0.1)
    score += sum(_mention_score(m) for m in refs) / len(refs)
    return Subgoal(moved.name, relation.name, [r.name for r in ref_objs], round(min(1.0, score), 3))


def describe_subgoal(subgoal: Subgoal, spec: SceneSpec) -> str:
    """The most explicit prompt for a subgoal (parses back to it with explicitness 1.0)."""
    obj = spec.get(subgoal.obj).words
    where = RELATIONS[subgoal.relation].explicit([spec.get(r).words for r in subgoal.reference])
    return f"Move the {obj} so that it is {where}. Keep every other object where it is."


def natural_phrases(subgoal: Subgoal, spec: SceneSpec) -> list[str]:
    """Everyday phrasings of a subgoal, as a person would say them (less explicit on purpose)."""
    return RELATIONS[subgoal.relation].natural(spec.get(subgoal.obj), [spec.get(n) for n in subgoal.reference])
