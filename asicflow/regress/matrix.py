"""The regression matrix file (e.g. ``regress/nightly.yaml``): which flows, with which
overrides, through which steps. Every problem of a file is reported at once.

```yaml
steps: [report]              # doit tasks of each point (default: report)
timeout_min: 120             # per point
entries:
  - flow: ../flows/jet_mlp.yaml            # relative to this file
    vary: {rtl.reuse: [1, 2, 4, 8]}        # one point per value (several keys: every combination)
  - flow: ../flows/econ_encoder_hardened.yaml
    set: {clock_period_ns: 100.0}          # overrides of every point of the entry
    steps: [i2c_cosim, gl_sim]
    timing: false                          # do not require slack >= 0 (default true when sta ran)
```
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any

from asicflow import schema
from asicflow.errors import ConfigError

TOP_KEYS = ("steps", "timeout_min", "entries", "baseline")
ENTRY_KEYS = ("flow", "set", "vary", "steps", "timing", "name")


@dataclasses.dataclass(frozen=True)
class Entry:
    flow: Path
    set: dict[str, Any]
    vary: dict[str, list[Any]]
    steps: tuple[str, ...]
    timing: bool
    name: str


@dataclasses.dataclass(frozen=True)
class Matrix:
    source: Path
    entries: tuple[Entry, ...]
    timeout_min: float
    baseline: Path


def _unknown(key: str, known: tuple[str, ...], where: str) -> str:
    near = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{near[0]}'?)" if near else ""
    return f"{where}: unknown key {schema.short(key)}{hint}; known: {', '.join(known)}"


def _steps(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    from asicflow.registry import BY_NAME

    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) for s in value):
        problems.append(f"{where}: 'steps' must be a list of step names")
        return ()
    for s in value:
        if s not in BY_NAME:
            problems.append(f"{where}: unknown step {schema.short(s)}; steps: {', '.join(BY_NAME)}")
    return tuple(value)


def _dotted_map(value: Any, where: str, key: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        problems.append(f"{where}: '{key}' must map dotted flow keys to values")
        return {}
    return dict(value)


def load_matrix(path: Path) -> Matrix:
    path = path.resolve()
    data = schema.read_yaml(path)
    problems: list[str] = []
    for k in data:
        if k not in TOP_KEYS:
            problems.append(_unknown(str(k), TOP_KEYS, "matrix"))
    default_steps = _steps(data.get("steps", ["report"]), "matrix", problems)
    timeout = data.get("timeout_min", 120)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        problems.append("matrix: 'timeout_min' must be a positive number of minutes")
        timeout = 120
    baseline = data.get("baseline", "baseline.json")
    if not isinstance(baseline, str):
        problems.append("matrix: 'baseline' must be a path")
        baseline = "baseline.json"
    raw = data.get("entries")
    if not isinstance(raw, list) or not raw:
        problems.append("matrix: 'entries' must be a non-empty list of {flow: ...} mappings")
        raw = []
    entries: list[Entry] = []
    for i, item in enumerate(raw):
        where = f"entries[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping with a 'flow' key")
            continue
        for k in item:
            if k not in ENTRY_KEYS:
                problems.append(_unknown(str(k), ENTRY_KEYS, where))
        flow = item.get("flow")
        if not isinstance(flow, str):
            problems.append(f"{where}: 'flow' must be the path of a flow YAML file")
            continue
        fpath = (path.parent / flow).resolve()
        if not fpath.is_file():
            problems.append(f"{where}: flow file {fpath} does not exist")
        vary = _dotted_map(item.get("vary"), where, "vary", problems)
        for k, v in vary.items():
            if not isinstance(v, list) or not v:
                problems.append(f"{where}: 'vary.{k}' must be a non-empty list of values")
        timing = item.get("timing", True)
        if not isinstance(timing, bool):
            problems.append(f"{where}: 'timing' must be true or false")
        name = item.get("name", fpath.stem)
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            problems.append(f"{where}: 'name' must be letters, digits and '_'")
            name = fpath.stem
        entries.append(
            Entry(
                flow=fpath,
                set=_dotted_map(item.get("set"), where, "set", problems),
                vary={k: v for k, v in vary.items() if isinstance(v, list)},
                steps=_steps(item["steps"], where, problems) if "steps" in item else default_steps,
                timing=bool(timing),
                name=name,
            )
        )
    if problems:
        raise ConfigError(str(path), problems)
    return Matrix(path, tuple(entries), float(timeout), (path.parent / baseline).resolve())
