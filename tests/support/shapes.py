"""Compare the shape (keys and JSON types) of an answer with a recorded QBO answer."""

from __future__ import annotations

from typing import Any


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def shape_diff(
    ours: Any, recorded: Any, ignore: frozenset[str] = frozenset(), path: str = "$"
) -> list[str]:
    """Differences where `ours` lacks a recorded key or has another JSON type.

    Keys named in `ignore` (anywhere) are skipped: they hold data of the recorded
    sandbox company (custom fields, addresses) rather than behaviour. Lists are
    compared element by element up to the shorter length.
    """
    if _kind(ours) != _kind(recorded):
        return [f"{path}: {_kind(ours)} instead of {_kind(recorded)}"]
    problems: list[str] = []
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            if key in ignore:
                continue
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += shape_diff(ours[key], value, ignore, f"{path}.{key}")
    elif isinstance(recorded, list):
        for index, (mine, theirs) in enumerate(zip(ours, recorded, strict=False)):
            problems += shape_diff(mine, theirs, ignore, f"{path}[{index}]")
    return problems
