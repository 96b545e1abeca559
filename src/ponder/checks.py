"""Values checked against a field's declared type and bounds: strategy options (``--set``, the
API's ``strategy_options``) and trainer configs (recipes, ``--set``) are read from JSON and TOML,
so a number may arrive as text, a count as a fraction, a rate as NaN."""

from __future__ import annotations

import json
import math
from types import UnionType
from typing import Union, get_args, get_origin

TEXT_LIMIT = 2000
"""Longest text a field takes."""


def value_problem(hint, value, bounds: tuple[float, float] | None = None) -> str | None:
    """What is wrong with ``value`` for a field declared as ``hint`` (``int``, ``float``, ``bool``,
    ``str``, or one of them ``| None``; other types are not checked here) and, for numbers, within
    ``bounds``: a sentence with ``{field}`` where its name goes, or None when nothing is."""
    kinds = set(get_args(hint)) if get_origin(hint) in (Union, UnionType) else {hint}
    if not kinds <= {int, float, bool, str, type(None)}:
        return None  # a tuple, a list, a config of its own: its own checks apply
    if value is None:
        return None if type(None) in kinds else "{field} must be given, got null"
    if bool in kinds:
        return None if isinstance(value, bool) else f"{{field}} must be true or false, got {quoted(value)}"
    if str in kinds:
        if not isinstance(value, str):
            return f"{{field}} must be text, got {quoted(value)}"
        return None if len(value) <= TEXT_LIMIT else f"{{field}} must be at most {TEXT_LIMIT} characters long"
    integer = int in kinds and float not in kinds
    if not integer and float not in kinds:
        return None
    kind = (int,) if integer else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value)
            or (bounds is not None and not bounds[0] <= value <= bounds[1])):
        return f"{{field}} must be {'an integer' if integer else 'a number'}{within(bounds)}, got {quoted(value)}"
    return None


def quoted(value) -> str:
    """``value`` as a message quotes it: short, floats as Python writes them (``nan``, ``1e+30``)."""
    return repr(value) if isinstance(value, float) else json.dumps(value, default=repr)[:40]


def within(bounds: tuple[float, float] | None) -> str:
    return "" if bounds is None else f" from {bounds[0]:g} to {bounds[1]:g}"
