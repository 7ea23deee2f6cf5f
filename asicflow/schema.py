"""Typed YAML configuration: every key declared once (type, default, unit, meaning).

Configurations are frozen dataclasses whose fields carry ``doc``/``unit``/``choices``
metadata. :func:`load` checks a YAML mapping against them, collects *every* problem (unknown
keys with a "did you mean", wrong types, bad choices, missing required keys, missing files)
and raises one :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from asicflow.errors import ConfigError
from asicflow.fixed import FixedType

T = TypeVar("T")
REQUIRED: Any = dataclasses.MISSING


def key(
    default: Any = REQUIRED,
    doc: str = "",
    unit: str = "",
    choices: tuple[Any, ...] = (),
    must_exist: bool = False,
) -> Any:
    """Declare one configuration key."""
    meta = {"doc": doc, "unit": unit, "choices": choices, "must_exist": must_exist}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def section(cls: type, doc: str = "") -> Any:
    """Declare a nested section (a dataclass whose keys all have defaults)."""
    return dataclasses.field(default_factory=cls, metadata={"doc": doc})


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping; syntax errors become a :class:`ConfigError`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"malformed YAML{where}: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["the file must hold a mapping of keys to values"])
    return data


def _type_name(tp: Any) -> str:
    if tp is Path:
        return "path"
    if tp is FixedType:
        return "type string like 'ac_fixed<16, 6, true>'"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "mapping"
    return getattr(tp, "__name__", str(tp))


class _Loader:
    def __init__(self, base: Path):
        self.base = base
        self.problems: list[str] = []

    def convert(self, where: str, tp: Any, value: Any, meta: dict[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if value is None:
                return None
            return self.convert(where, args[0], value, meta)
        if tp is FixedType:
            try:
                return FixedType.parse(str(value))
            except ValueError as exc:
                self.problems.append(f"'{where}': {exc}")
                return None
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                self.problems.append(f"'{where}' must be a mapping")
                return None
            return self.build(tp, value, where + ".")  # type: ignore[arg-type]
        if origin is list:
            if not isinstance(value, list):
                self.problems.append(f"'{where}' must be a list")
                return None
            (item,) = typing.get_args(tp)
            return [self.convert(f"{where}[{i}]", item, v, {}) for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.problems.append(f"'{where}' must be a mapping")
                return None
            _, vt = typing.get_args(tp)
            return {str(k): self.convert(f"{where}.{k}", vt, v, {}) for k, v in value.items()}
        if tp is Path:
            if not isinstance(value, str) or not value:
                self.problems.append(f"'{where}' must be a path string")
                return None
            p = Path(value).expanduser()
            p = (self.base / p) if not p.is_absolute() else p
            if meta.get("must_exist") and not p.exists():
                self.problems.append(f"'{where}': file not found: {p}")
            return p
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if tp in (int, float, str, bool) and (
            not isinstance(value, tp) or (tp is int and isinstance(value, bool))
        ):
            self.problems.append(f"'{where}' must be {_type_name(tp)}, got {value!r}")
            return None
        choices = meta.get("choices") or ()
        if choices and value not in choices:
            opts = ", ".join(repr(c) for c in choices)
            self.problems.append(f"'{where}' is {value!r}; choose one of {opts}")
        return value

    def build(self, cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
        fields = {
            f.name: f
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if not f.metadata.get("internal")
        }
        hints = typing.get_type_hints(cls)
        for k in data:
            if k not in fields:
                close = difflib.get_close_matches(str(k), list(fields), n=1, cutoff=0.6)
                hint = (
                    f"; did you mean '{prefix}{close[0]}'?"
                    if close
                    else (f"; known keys: {', '.join(prefix + f for f in fields)}")
                )
                self.problems.append(f"unknown key '{prefix}{k}'{hint}")
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            if name in data:
                kwargs[name] = self.convert(
                    prefix + name, hints[name], data[name], dict(f.metadata)
                )
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if dataclasses.is_dataclass(hints[name]):
                    kwargs[name] = self.build(hints[name], {}, prefix + name + ".")
                else:
                    self.problems.append(
                        f"missing required key '{prefix}{name}' " f"({f.metadata.get('doc', '')})"
                    )
        if self.problems:
            return None  # type: ignore[return-value]
        return cls(**kwargs)


def load(cls: type[T], data: dict[str, Any], source: str, base: Path) -> T:
    """Build ``cls`` from ``data`` (paths relative to ``base``) or raise every problem at once."""
    loader = _Loader(base)
    obj = loader.build(cls, data)
    if loader.problems:
        raise ConfigError(source, loader.problems)
    return obj


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) rows for the reference documentation."""
    rows: list[tuple[str, str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.metadata.get("internal"):
            continue
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, prefix + f.name + "."))  # type: ignore[arg-type]
            continue
        if typing.get_origin(tp) is dict and dataclasses.is_dataclass(typing.get_args(tp)[1]):
            name = f"{prefix}{f.name}.<name>"
            rows.append((f"{prefix}{f.name}", "mapping", "{}", f.metadata.get("doc", "")))
            rows.extend(describe(typing.get_args(tp)[1], name + "."))
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        doc = f.metadata.get("doc", "")
        if f.metadata.get("unit"):
            doc += f" [{f.metadata['unit']}]"
        if f.metadata.get("choices"):
            doc += " (one of: " + ", ".join(map(str, f.metadata["choices"])) + ")"
        rows.append((prefix + f.name, _type_name(tp), default, doc))
    return rows
