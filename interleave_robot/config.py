"""Building config dataclasses from user options (`key=value` strings from the CLI, YAML, dicts).

Values are coerced to the field's annotated type; an unknown key or a bad value raises
ConfigError naming it. Validation of ranges lives in each config's __post_init__.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from interleave_robot.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{name}: cannot interpret {value!r} ({'; '.join(errors)})")
    if annotation is Any or annotation is None:
        return value
    if origin in (list, tuple):
        items = value.split(",") if isinstance(value, str) else list(value)
        item_type = args[0] if args else Any
        items = [_coerce(name, v.strip() if isinstance(v, str) else v, item_type) for v in items if v != ""]
        return items if origin is list else tuple(items)
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {value!r}")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if annotation in (int, float, str):
        if annotation is not str and isinstance(value, bool):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {value!r}")
        try:
            return annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {value!r}") from None
    return value


def build_config(config_class: type, options: dict[str, Any] | None = None):
    """Instantiate `config_class` from a dict of (possibly string) options."""
    options = dict(options or {})
    fields = {f.name: f for f in dataclasses.fields(config_class) if f.init}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ConfigError(f"{config_class.__name__}: unknown option(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(fields)) or '(none)'}")
    hints = typing.get_type_hints(config_class)
    kwargs = {key: _coerce(key, value, hints.get(key, Any)) for key, value in options.items()}
    try:
        return config_class(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{config_class.__name__}: {exc}") from None


def json_object_option(what: str, value: dict | str) -> dict:
    """A mapping option given as a dict or as a JSON object string (the command line's form);
    ConfigError naming `what` when it is neither (malformed, nested too deeply, not an object)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{what} is not a JSON object: {exc}") from None
        except RecursionError:  # a user's string: nested too deeply is a bad option, not a crash
            raise ConfigError(f"{what} is not a JSON object: nested too deeply") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(value).__name__}")
    return value


def parse_key_values(items: list[str] | None) -> dict[str, str]:
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; ConfigError on an item without '='."""
    result: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {item!r} is not of the form key=value")
        result[key.strip()] = value
    return result
