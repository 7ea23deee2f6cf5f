"""Typed YAML configuration: every key declared once (type, default, unit, meaning).

Configurations are frozen dataclasses whose fields carry ``doc``/``unit``/``choices``
metadata. :func:`load` checks a YAML mapping against them, collects *every* problem (unknown
keys with a "did you mean", wrong types, bad choices, missing required keys, missing files)
and raises one :class:`ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
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


# Bounds on what a flow or PDK file may hold: real ones are a few kB and a few hundred nodes,
# a YAML "alias bomb" (aliases of aliases) is a few hundred bytes that expand to billions.
MAX_FILE_BYTES = 1 << 20
MAX_NODES = 100_000
# How much of a value an error message echoes.
MAX_ECHO = 80


def short(value: Any, limit: int = MAX_ECHO) -> str:
    """``repr(value)``, cut to ``limit`` characters (a bad value may be huge)."""
    if isinstance(value, (list, dict)) and len(value) > limit:
        kind = "list" if isinstance(value, list) else "mapping"
        return f"<a {kind} of {len(value)} items>"
    return clip(repr(value), limit)


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes of ``root`` with every alias expanded (counted on the node graph: linear time),
    stopping past ``limit``; -1 for a recursive alias."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(node: yaml.Node) -> int:
        key_ = id(node)
        if key_ in sizes:
            return sizes[key_]
        if key_ in busy:
            return -1
        busy.add(key_)
        total = 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            n = size(child)
            if n < 0:
                return -1
            total += n
            if total > limit:
                break
        busy.discard(key_)
        sizes[key_] = total
        return total

    return size(root)


def _parse(text: str, source: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        n = _expanded_size(node, MAX_NODES)
        if n < 0:
            raise ConfigError(source, ["a YAML alias refers to itself (a recursive structure)"])
        if n > MAX_NODES:
            raise ConfigError(
                source,
                [
                    f"the YAML expands to more than {MAX_NODES} values (aliases of aliases?): "
                    "a flow needs a few hundred; write the values out"
                ],
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping; syntax errors become a :class:`ConfigError`.

    Bounded: at most ``MAX_FILE_BYTES`` bytes and ``MAX_NODES`` values with aliases expanded,
    UTF-8 only."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                str(path), [f"the file is larger than {MAX_FILE_BYTES} bytes: not a flow file?"]
            )
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path),
            [f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"],
        ) from None
    try:
        data = _parse(text, str(path))
    except RecursionError:
        raise ConfigError(str(path), ["the YAML is nested too deeply"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            str(path), [f"malformed YAML{where}: {clip(str(problem), 200)}"]
        ) from None
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
        self.bad: set[str] = set()

    def convert(self, where: str, tp: Any, value: Any, meta: dict[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if value is None:
                return None
            for arg in args:  # the member of the value's own type (int | str: 2 or 'auto')
                if arg in (int, str) and type(value) is arg:
                    return self.convert(where, arg, value, meta)
            return self.convert(where, args[0], value, meta)
        if tp is FixedType:
            try:
                return FixedType.parse(str(value))
            except ValueError as exc:
                self.problems.append(f"'{where}': {clip(str(exc), 200)}")
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
            return {
                str(k): self.convert(f"{where}.{clip(str(k), 40)}", vt, v, {})
                for k, v in value.items()
            }
        if tp is Path:
            if not isinstance(value, str) or not value or "\0" in value:
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
            self.problems.append(f"'{where}' must be {_type_name(tp)}, got {short(value)}")
            return None
        if tp is float and not math.isfinite(value):
            self.problems.append(f"'{where}' must be a finite number, got {value}")
            return None
        choices = meta.get("choices") or ()
        if choices and value not in choices:
            opts = ", ".join(repr(c) for c in choices)
            self.problems.append(f"'{where}' is {short(value)}; choose one of {opts}")
        return value

    def build(self, cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
        """``cls`` from ``data``; a key with a problem gets its default (and is listed in
        :attr:`bad`), so checks across keys can still run on the rest."""
        fields = {
            f.name: f
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if not f.metadata.get("internal")
        }
        hints = typing.get_type_hints(cls)
        for k in data:
            if k not in fields:
                close = difflib.get_close_matches(clip(str(k), 100), list(fields), n=1, cutoff=0.6)
                hint = (
                    f"; did you mean '{prefix}{close[0]}'?"
                    if close
                    else (f"; known keys: {', '.join(prefix + f for f in fields)}")
                )
                self.problems.append(f"unknown key '{prefix}{clip(str(k), 40)}'{hint}")
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            tp = hints[name]
            if name in data:
                before = len(self.problems)
                value = self.convert(prefix + name, tp, data[name], dict(f.metadata))
                nested_ok = dataclasses.is_dataclass(tp) and value is not None
                if len(self.problems) > before and not nested_ok:
                    self.bad.add(prefix + name)
                    value = _default(f, tp)
                kwargs[name] = value
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                if dataclasses.is_dataclass(tp):
                    kwargs[name] = self.build(tp, {}, prefix + name + ".")  # type: ignore[arg-type]
                else:
                    self.problems.append(
                        f"missing required key '{prefix}{name}' " f"({f.metadata.get('doc', '')})"
                    )
                    self.bad.add(prefix + name)
                    kwargs[name] = _default(f, tp)
        return cls(**kwargs)


def _default(f: dataclasses.Field[Any], tp: Any) -> Any:
    """A key's default, or a placeholder of its type for a required key."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return Path() if tp is Path else None


def load_partial(cls: type[T], data: dict[str, Any], base: Path) -> tuple[T, list[str], set[str]]:
    """``cls`` from ``data`` with defaults in place of bad values, the problems, and the
    dotted keys that had one (so the caller's checks across keys skip them)."""
    loader = _Loader(base)
    obj = loader.build(cls, data)
    return obj, loader.problems, loader.bad


def load(cls: type[T], data: dict[str, Any], source: str, base: Path) -> T:
    """Build ``cls`` from ``data`` (paths relative to ``base``) or raise every problem at once."""
    obj, problems, _ = load_partial(cls, data, base)
    if problems:
        raise ConfigError(source, problems)
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
