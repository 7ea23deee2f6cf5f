"""The committed baseline (``regress/baseline.json``) and the diff of a run against it.

In the spirit of LibreLane's metric comparison: each metric has a direction (lower or higher
is better), a tolerance and a criticality. A change in the bad direction beyond the tolerance
is a regression; a critical regression fails the run, a non-critical one is reported. The
policy below is the default; a baseline file may carry its own ``policy`` entries (same
shape), which win. ``--update-baseline`` writes the run's values as the new baseline,
keeping the file's policy.

Tolerance: ``rel`` is a fraction of the baseline value, ``abs`` an absolute amount (slack in
ns); both may be given, the larger allowance applies.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from pathlib import Path
from typing import Any

from asicflow.errors import ConfigError

POLICY: dict[str, dict[str, Any]] = {
    "design__instance__area": {"better": "lower", "rel": 0.01, "critical": True},
    "design__instance__count": {"better": "lower", "rel": 0.02, "critical": False},
    "design__instance__count__flops": {"better": "lower", "rel": 0.0, "critical": True},
    "timing__setup__ws": {"better": "higher", "abs": 0.05, "critical": True},
    "power__total_w": {"better": "lower", "rel": 0.05, "critical": False},
    "power__energy_per_inference_nj": {"better": "lower", "rel": 0.05, "critical": True},
    "cosim__latency_cycles": {"better": "lower", "rel": 0.0, "critical": True},
    "cosim__ii": {"better": "lower", "rel": 0.0, "critical": True},
    "csim__vectors_per_s": {"better": "higher", "rel": 0.5, "critical": False},
    "cosim__vectors_per_s": {"better": "higher", "rel": 0.5, "critical": False},
    "flow__*__runtime_s": {"better": "lower", "rel": 1.0, "abs": 5.0, "critical": False},
}


@dataclasses.dataclass(frozen=True)
class Row:
    point: str
    metric: str
    baseline: float | None
    value: float
    verdict: str  # new, same, better, worse (within tolerance), regressed
    critical: bool

    @property
    def change_pct(self) -> float | None:
        if self.baseline in (None, 0):
            return None
        assert self.baseline is not None
        return 100.0 * (self.value - self.baseline) / abs(self.baseline)

    @property
    def fails(self) -> bool:
        return self.verdict == "regressed" and self.critical


def _rule(policy: dict[str, dict[str, Any]], metric: str) -> dict[str, Any] | None:
    if metric in policy:
        return policy[metric]
    for pattern, rule in policy.items():
        if fnmatch.fnmatchcase(metric, pattern):
            return rule
    return None


def load(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]]]:
    """(policy, {point: {metric: value}}); a missing file is an empty baseline."""
    if not path.is_file():
        return dict(POLICY), {}
    try:
        data = json.loads(path.read_text())
        policy = {**POLICY, **data.get("policy", {})}
        points = {
            str(p): {str(k): float(v) for k, v in m.items()} for p, m in data["points"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(str(path), [f"not a regression baseline: {exc}"]) from None
    return policy, points


def write(path: Path, values: dict[str, dict[str, Any]]) -> None:
    own_policy: dict[str, Any] = {}
    if path.is_file():
        try:
            own_policy = dict(json.loads(path.read_text()).get("policy", {}))
        except (OSError, ValueError, AttributeError):
            own_policy = {}
    points = {
        p: {k: v for k, v in sorted(m.items()) if _numeric(v) and _rule(POLICY | own_policy, k)}
        for p, m in sorted(values.items())
    }
    doc: dict[str, Any] = {"points": points}
    if own_policy:
        doc = {"policy": own_policy, **doc}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def diff(
    values: dict[str, dict[str, Any]],
    policy: dict[str, dict[str, Any]],
    base: dict[str, dict[str, float]],
) -> list[Row]:
    rows: list[Row] = []
    for point, metrics in values.items():
        for metric, value in sorted(metrics.items()):
            rule = _rule(policy, metric)
            if rule is None or not _numeric(value):
                continue
            critical = bool(rule.get("critical", False))
            old = base.get(point, {}).get(metric)
            if old is None:
                rows.append(Row(point, metric, None, float(value), "new", critical))
                continue
            allowance = max(float(rule.get("rel", 0.0)) * abs(old), float(rule.get("abs", 0.0)))
            worse = value - old if rule["better"] == "lower" else old - value
            if worse == 0:
                verdict = "same"
            elif worse < 0:
                verdict = "better"
            elif worse <= allowance + 1e-12:
                verdict = "worse"
            else:
                verdict = "regressed"
            rows.append(Row(point, metric, old, float(value), verdict, critical))
    return rows
