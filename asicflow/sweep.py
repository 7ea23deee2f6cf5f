"""Design-space sweep over the reuse factor: area, II, latency and timing per R.

Each point runs the flow's own steps (hls, csim, rtl, rtl_cosim, synth, sta and whatever they
need besides convert and golden) through :func:`asicflow.steps.base.execute`, with the flow's
``rtl`` section replaced (``rtl.reuse = R`` for every Dense/Conv layer, ``rtl.reuse_layers``
cleared) and a build root of its own: ``build/<flow>/sweep/r<R>/<flow>/<step>/``. The flow's
convert and golden results are copied in (they do not depend on R), so the flow's own folders
are never written. The table goes to ``build/<flow>/sweep/sweep.md`` (+ ``sweep.json``), the
plot of area and II against R to ``sweep.png``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, ConfigError
from asicflow.registry import STEPS
from asicflow.steps.base import Step, config_values, execute, read_metrics, write_json

DEFAULT_REUSE: tuple[int, ...] = (1, 2, 4, 8)
REUSE_ENV = "ASICFLOW_SWEEP_REUSE"
# What every point measures; their upstream steps run too, except the R-independent ones.
TARGETS = ("csim", "rtl_cosim", "sta")
SHARED = ("convert", "golden")
OUTPUTS = ("sweep.md", "sweep.json", "sweep.png")

# (column header, metric, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("II (cosim)", "cosim__ii", ""),
    ("latency (cycles)", "cosim__latency_cycles", ""),
    ("area (um^2)", "design__instance__area", ".1f"),
    ("cells", "design__instance__count", ""),
    ("flip-flops", "design__instance__count__flops", ""),
    ("slack (ns)", "timing__setup__ws", ".3f"),
    ("accuracy", "golden__accuracy", ".4f"),
    ("csim mismatches", "csim__mismatches", ""),
    ("cosim mismatches", "cosim__mismatches", ""),
)


def sweep_reuse(flow: FlowConfig) -> tuple[int, ...]:
    """The reuse factors to sweep: ``$ASICFLOW_SWEEP_REUSE`` (e.g. ``1,2,4``), else the flow's
    ``sweep.reuse``, else :data:`DEFAULT_REUSE`."""
    env = os.environ.get(REUSE_ENV, "").strip()
    if env:
        try:
            values = tuple(int(v) for v in env.replace(":", ",").split(",") if v.strip())
        except ValueError:
            raise ConfigError(
                f"${REUSE_ENV}", [f"expected integers like 1,2,4,8, got {env!r}"]
            ) from None
    else:
        values = tuple(flow.sweep.reuse or DEFAULT_REUSE)
    bad = [r for r in values if not 1 <= r <= 1024]
    if bad or not values:
        raise ConfigError(
            str(flow.source), [f"sweep reuse factors {list(values)}: each must be 1 to 1024"]
        )
    return tuple(sorted(set(values)))


def sweep_dir(build: Path, flow: FlowConfig) -> Path:
    return build / flow.name / "sweep"


def point_flow(flow: FlowConfig, reuse: int) -> FlowConfig:
    """``flow`` with every Dense/Conv layer at reuse factor ``reuse``."""
    return dataclasses.replace(
        flow, rtl=dataclasses.replace(flow.rtl, reuse=reuse, reuse_layers={})
    )


def point_steps(flow: FlowConfig) -> list[Step]:
    """The steps a point runs, in flow order: :data:`TARGETS` and what they need, minus
    :data:`SHARED`."""
    wanted = set(TARGETS)
    for step in reversed(STEPS):
        if step.name in wanted:
            wanted.update(n.split("/")[0] for n in step.needs_for(flow))
    return [s for s in STEPS if s.name in wanted and s.name not in SHARED]


def shared_files(flow: FlowConfig) -> list[str]:
    """The flow's own files (``step/file``) the points copy: every file of :data:`SHARED` a
    point step needs."""
    need = {n for s in point_steps(flow) for n in s.needs_for(flow)}
    return sorted(n for n in need if n.split("/")[0] in SHARED)


def file_deps(flow: FlowConfig) -> list[Path]:
    """Files outside the sweep folder it depends on (the doit task's ``file_dep`` minus the
    build-relative :func:`shared_files`)."""
    return sorted({p for s in point_steps(flow) for p in s.deps(flow)})


def config_signature(flow: FlowConfig) -> dict[str, Any]:
    """Every value a sweep result depends on (doit ``config_changed``)."""
    out: dict[str, Any] = {"reuse": list(sweep_reuse(flow))}
    for r in sweep_reuse(flow):
        pf = point_flow(flow, r)
        for s in point_steps(flow):
            out[f"r{r}.{s.name}"] = config_values(s, pf)
    return out


def _copy_shared(flow: FlowConfig, src_dir: Path, dst_dir: Path) -> None:
    for name in SHARED:
        src = src_dir / name
        if not src.is_dir():
            raise AsicflowError(f"sweep needs {src} (run the {name} step of '{flow.name}' first)")
        dst = dst_dir / name
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)


def run_point(flow: FlowConfig, build: Path, reuse: int, *, debug: bool = False) -> dict[str, Any]:
    """Run one point; returns its merged metrics (``sweep__reuse`` included)."""
    root = sweep_dir(build, flow) / f"r{reuse}"
    fdir = root / flow.name
    fdir.mkdir(parents=True, exist_ok=True)
    _copy_shared(flow, build / flow.name, fdir)
    pf = point_flow(flow, reuse)
    merged: dict[str, Any] = {"sweep__reuse": reuse}
    for name in SHARED:
        merged.update(read_metrics(fdir, name))
    for step in point_steps(flow):
        try:
            merged.update(execute(step, pf, root, debug=debug))
        except AsicflowError as exc:
            raise AsicflowError(
                f"sweep point R={reuse}, step {step.name} ({fdir / (step.name + '.failed')}): "
                f"{exc}"
            ) from exc
    return merged


def run_sweep(
    flow: FlowConfig,
    build: Path,
    reuse: Sequence[int] | None = None,
    *,
    debug: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Every point, then ``sweep.md``, ``sweep.json`` and ``sweep.png``; returns the rows."""
    factors = tuple(reuse) if reuse is not None else sweep_reuse(flow)
    rows = []
    for r in factors:
        if progress:
            progress(f"sweep {flow.name}: R={r}")
        rows.append(run_point(flow, build, r, debug=debug))
    out = sweep_dir(build, flow)
    write_json(out / "sweep.json", rows)
    (out / "sweep.md").write_text(markdown(flow, rows))
    plot(flow, rows, out / "sweep.png")
    return rows


def _cell(v: Any, spec: str) -> str:
    if v is None:
        return "n/a"
    if spec and isinstance(v, (int, float)):
        return format(v, spec)
    return str(v)


def markdown(flow: FlowConfig, rows: list[dict[str, Any]]) -> str:
    first = rows[0] if rows else {}
    period = first.get("timing__clock_period_ns", flow.clock_period_ns)
    head = ["R", *(c[0] for c in COLUMNS)]
    lines = [
        f"# Reuse-factor sweep: {flow.name}",
        "",
        f"Every Dense/Conv layer at reuse factor R; {first.get('cosim__vectors', 'n/a')} "
        f"stimuli per point; {first.get('synth__pdk', flow.pdk)} corner "
        f"{first.get('timing__corner', flow.corner)}, slack at {period} ns. Accuracy: the "
        "bit-exact golden model on the test split (identical at every R when the mismatch "
        "columns are 0).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [str(row["sweep__reuse"]), *(_cell(row.get(k), f) for _, k, f in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Slack is the synthesis netlist's (ABC maps for area, no fanout buffering or sizing): "
        "at R > 1 the phase register selects every multiplexed operand (and weight) directly, "
        "so the slack is pessimistic until place and route repairs that fanout.",
    ]
    return "\n".join(lines) + "\n\n![area and II against R](sweep.png)\n"


def plot(flow: FlowConfig, rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = [row["sweep__reuse"] for row in rows]
    area = [row.get("design__instance__area") or float("nan") for row in rows]
    ii = [row.get("cosim__ii") or float("nan") for row in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(r, area, "o-", color="tab:blue", label="area")
    ax.set_xscale("log", base=2)
    ax.set_xticks(r, [str(v) for v in r])
    ax.set_xlabel("reuse factor R")
    ax.set_ylabel("cell area (um^2)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(r, ii, "s--", color="tab:red", label="II")
    ax2.set_ylabel("initiation interval (cycles)", color="tab:red")
    ax.set_title(f"{flow.name}: area and II against the reuse factor")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_rows(build: Path, flow: FlowConfig) -> list[dict[str, Any]]:
    p = sweep_dir(build, flow) / "sweep.json"
    rows: list[dict[str, Any]] = json.loads(p.read_text()) if p.exists() else []
    return rows
