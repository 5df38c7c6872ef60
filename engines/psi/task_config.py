"""Checks for the PSI task's configuration (launcher.py): protobuf-JSON
fields by either name, unknown fields refused by name, enums."""

from __future__ import annotations

import json


class ConfigError(Exception):
    pass


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def field(obj: dict, name: str, where: str, default=None):
    """A protobuf-JSON field by its snake_case or lowerCamelCase name."""
    if name in obj and camel(name) in obj and name != camel(name):
        raise ConfigError(f"{where}.{name}: given twice (as {name} and {camel(name)}); give one")
    return obj.get(name, obj.get(camel(name), default))


def check_fields(obj, allowed: set, where: str) -> dict:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: must be a JSON object")
    known = allowed | {camel(a) for a in allowed}
    for k in obj:
        if k not in known:
            raise ConfigError(f"{where}.{k}: unknown field (known: {', '.join(sorted(allowed))})")
    return obj


def parse_json(text: str | None, where: str):
    if text is None or text == "":
        raise ConfigError(f"{where}: not set (Ferry's runtime sets it for every task)")
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where}: not valid JSON ({e})") from None


def enum(value, allowed, where: str, default: str) -> str:
    if value in (None, ""):
        return default
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return value
