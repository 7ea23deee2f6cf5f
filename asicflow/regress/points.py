"""Points of a matrix: one flow with its overrides, in its own build root.

A point's flow file is the entry's flow YAML with its path keys made absolute and the
overrides (``set`` and one combination of ``vary``) merged in by dotted key; it is written to
``<out>/points/<point>/<flow>.yaml`` and loaded by the ordinary flow loader, so a bad override
is reported like any configuration error and the point replays by hand:
``ASICFLOW_FLOWS=<that file> ASICFLOW_BUILD=<out>/points/<point>/build doit <steps>``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import yaml

from asicflow import schema
from asicflow.config import FlowConfig, load_flow
from asicflow.errors import ConfigError
from asicflow.regress.matrix import Matrix


@dataclasses.dataclass(frozen=True)
class Point:
    id: str
    entry: str
    flow_name: str
    overrides: dict[str, Any]
    steps: tuple[str, ...]
    timing: bool
    flow_file: Path
    build: Path

    @property
    def flow_dir(self) -> Path:
        return self.build / self.flow_name


def _path_keys() -> set[str]:
    return {k for k, tp, _, _ in schema.describe(FlowConfig) if tp == "path"}


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for p in parents:
        child = node.get(p)
        if not isinstance(child, dict):
            child = node[p] = {}
        node = child
    node[last] = value


def _get(data: dict[str, Any], dotted: str) -> Any:
    node: Any = data
    for p in dotted.split("."):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def _tag(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", str(value)).strip("_") or "x"


def point_id(entry: str, combo: dict[str, Any]) -> str:
    """``jet_mlp`` or ``jet_mlp__rtl_reuse_4``: letters, digits and '_' only (a folder name
    every tool takes, cocotb's make included)."""
    parts = [entry] + [f"{_tag(k)}_{_tag(v)}" for k, v in combo.items()]
    return "__".join(parts)


def derived_flow(source: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    data = schema.read_yaml(source)
    for key in _path_keys():
        value = _get(data, key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            _set(data, key, str((source.parent / value).resolve()))
    data.setdefault("name", source.stem)
    for key, value in overrides.items():
        _set(data, key, value)
    return data


def expand(matrix: Matrix, out: Path) -> list[Point]:
    """Every point of ``matrix`` with its flow file written under ``out/points/``; every
    point's configuration problems at once."""
    points: list[Point] = []
    problems: list[str] = []
    seen: set[str] = set()
    for entry in matrix.entries:
        keys = list(entry.vary)
        for values in itertools.product(*(entry.vary[k] for k in keys)):
            combo = dict(zip(keys, values, strict=True))
            pid = point_id(entry.name, combo)
            if pid in seen:
                problems.append(f"point {pid} appears twice: give one entry another 'name'")
                continue
            seen.add(pid)
            pdir = out / "points" / pid
            pdir.mkdir(parents=True, exist_ok=True)
            overrides = {**entry.set, **combo}
            try:
                data = derived_flow(entry.flow, overrides)
            except ConfigError as exc:
                problems += [f"point {pid}: {p}" for p in exc.problems]
                continue
            flow_file = pdir / f"{data['name']}.yaml"
            flow_file.write_text(
                f"# regression point {pid}: {entry.flow} with {overrides or 'no overrides'}\n"
                + yaml.safe_dump(data, sort_keys=False)
            )
            try:
                flow = load_flow(flow_file)
            except ConfigError as exc:
                problems += [f"point {pid}: {p}" for p in exc.problems]
                continue
            points.append(
                Point(
                    id=pid,
                    entry=entry.name,
                    flow_name=flow.name,
                    overrides=overrides,
                    steps=entry.steps,
                    timing=entry.timing,
                    flow_file=flow_file,
                    build=pdir / "build",
                )
            )
    if problems:
        raise ConfigError(str(matrix.source), problems)
    return points
