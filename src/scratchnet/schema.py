"""Checks for values read from files (checkpoint metadata, settings, JSON parameter files).

JSON gives back whatever the file holds: a string where a number belongs, ``true`` for a count,
a list for an object. Each check here takes such a value and returns it (converted where that is
safe: an int where a float belongs) or raises Invalid saying what is wrong; the reader adds the
file and the field's name. Exact types: a bool is not a whole number, 5.0 is not a whole number,
a number must be finite.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from scratchnet.errors import ScratchnetError

Check = Callable[[Any], Any]


class Invalid(ScratchnetError):
    """A value that breaks its field's rule. ``problem`` says how; ``field`` says where inside the
    value checked ("history[3].loss", "" for the value itself); the caller names the file."""

    def __init__(self, problem: str, field: str = ""):
        super().__init__(f"{field} {problem}" if field else problem)
        self.problem, self.field = problem, field


def _inside(outer: str, inner: str) -> str:
    """The path of a field inside another: 'history' + '[3]', '[3]' + 'loss' -> '[3].loss'."""
    return outer + (inner if not inner or inner.startswith("[") else "." + inner)


def describe(value: Any) -> str:
    """The value as a message shows it, in JSON's terms and kept short."""
    names = {bool: "true" if value is True else "false", type(None): "null", list: "a list", dict: "an object"}
    if type(value) in names:
        return names[type(value)]
    text = repr(value)
    return ("a string " if isinstance(value, str) else "") + (text if len(text) <= 40 else text[:37] + "...")


def integer(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int:
            raise Invalid(f"must be a whole number, not {describe(value)}")
        if not low <= value <= high:
            raise Invalid(f"must be from {low} to {high}, not {value}")
        return value

    return check


def number(low: float = -math.inf, high: float = math.inf) -> Check:
    def check(value: Any) -> float:
        if type(value) not in (int, float):
            raise Invalid(f"must be a number, not {describe(value)}")
        if not math.isfinite(value):
            raise Invalid(f"must be a finite number, not {value!r}")
        if not low <= value <= high:
            raise Invalid(f"must be from {low:g} to {high:g}, not {value!r}")
        return float(value)

    return check


def boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Invalid(f"must be true or false, not {describe(value)}")
    return value


def text(max_length: int = 200) -> Check:
    def check(value: Any) -> str:
        if type(value) is not str:
            raise Invalid(f"must be a string, not {describe(value)}")
        if len(value) > max_length:
            raise Invalid(f"is a string of {len(value)} characters, more than {max_length}")
        return value

    return check


def choice(options: Collection[str]) -> Check:
    def check(value: Any) -> str:
        if type(value) is not str or value not in options:
            raise Invalid(f"must be one of {', '.join(options)}, not {describe(value)}")
        return value

    return check


def optional(check: Check) -> Check:
    """``check``, or JSON null."""
    return lambda value: None if value is None else check(value)


def list_of(item: Check, min_length: int, max_length: int) -> Check:
    def check(value: Any) -> list:
        if type(value) is not list:
            raise Invalid(f"must be a list, not {describe(value)}")
        if not min_length <= len(value) <= max_length:
            raise Invalid(f"must have {min_length} to {max_length} entries, not {len(value)}")
        checked = []
        for index, entry in enumerate(value):
            try:
                checked.append(item(entry))
            except Invalid as e:
                raise Invalid(e.problem, _inside(f"[{index}]", e.field)) from None
        return checked

    return check


REQUIRED = object()  # a Field's default when the field must be there


@dataclass(frozen=True)
class Field:
    check: Check
    default: Any = REQUIRED


def record(fields: dict[str, Field]) -> Check:
    """A JSON object with only these keys; missing optional ones get their defaults."""

    def check(value: Any) -> dict:
        if type(value) is not dict:
            raise Invalid(f"must be an object, not {describe(value)}")
        unknown = [k for k in value if k not in fields]
        if unknown:
            raise Invalid(f"has an unknown field {unknown[0]!r}")
        checked = {}
        for name, field in fields.items():
            if name not in value:
                if field.default is REQUIRED:
                    raise Invalid(f"lacks the field {name!r}")
                checked[name] = copy.deepcopy(field.default)  # never share a default list
                continue
            try:
                checked[name] = field.check(value[name])
            except Invalid as e:
                raise Invalid(e.problem, _inside(name, e.field)) from None
        return checked

    return check
