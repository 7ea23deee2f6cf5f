"""Print per-example figures (csim/cosim vectors/s, latency, II, area, cells, slack, critical
path) for the example flows, and the reuse-factor sweep table of one of them.

Each flow runs through ``report`` with ``asicflow run`` into build/bench/examples/ (incremental:
a second run reuses the results; ``--always`` reruns every step), the sweep through
``doit sweep:<flow>``. Nothing is asserted; figures go to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("econ_encoder", "jet_mlp", "bn_po2_mlp", "binary_mlp")

# (label, metric, format)
FIGURES = (
    ("csim vectors/s", "csim__vectors_per_s", ".0f"),
    ("cosim vectors/s", "cosim__vectors_per_s", ".0f"),
    ("latency (cycles)", "cosim__latency_cycles", ""),
    ("II", "cosim__ii", ""),
    ("area (um^2)", "design__instance__area", ".1f"),
    ("cells", "design__instance__count", ""),
    ("flip-flops", "design__instance__count__flops", ""),
    ("slack (ns)", "timing__setup__ws", ".3f"),
    ("critical path (ns)", "timing__critical_path_ns", ".3f"),
    ("mismatches q/c/r", "", ""),
)


def _fmt(v: object, spec: str) -> str:
    if v is None:
        return "n/a"
    return format(v, spec) if spec and isinstance(v, (int, float)) else str(v)


def run_flow(name: str, env: dict[str, str], always: bool) -> tuple[dict[str, object], float]:
    flow = ROOT / "flows" / f"{name}.yaml"
    argv = [sys.executable, "-m", "asicflow", "run", str(flow), "--to", "report"]
    t = time.perf_counter()
    subprocess.run([*argv, *(["--always"] if always else [])], check=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    m: dict[str, object] = json.loads(
        (Path(env["ASICFLOW_BUILD"]) / name / "metrics.json").read_text()
    )
    return m, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", default=",".join(EXAMPLES), help="comma-separated flow names")
    ap.add_argument("--sweep", default="jet_mlp", help="flow to sweep ('' = none)")
    ap.add_argument("--reuse", default="", help="reuse factors of the sweep (default 1,2,4,8)")
    ap.add_argument("--always", action="store_true", help="rerun every step")
    args = ap.parse_args()
    build = ROOT / "build" / "bench" / "examples"
    env = {**os.environ, "ASICFLOW_BUILD": str(build)}
    names = [n for n in args.flows.split(",") if n]
    results = {}
    for name in names:
        results[name] = run_flow(name, env, args.always)

    print("\n== examples (sky130hd tt, 10 ns clock, Verilator cosim, fast ABC) ==")
    width = max(len(n) for n in names) + 2
    print(f"{'figure':<20}" + "".join(f"{n:>{width}}" for n in names))
    for label, key, spec in FIGURES:
        cells = []
        for name in names:
            m = results[name][0]
            if key:
                cells.append(_fmt(m.get(key), spec))
            else:
                cells.append(
                    f"{m.get('golden__qkeras_mismatches')}/{m.get('csim__mismatches')}/"
                    f"{m.get('cosim__mismatches')}"
                )
        print(f"{label:<20}" + "".join(f"{c:>{width}}" for c in cells))
    print(
        f"{'stimuli':<20}"
        + "".join(f"{results[n][0].get('cosim__vectors')!s:>{width}}" for n in names)
    )
    print(f"{'flow wall (s)':<20}" + "".join(f"{results[n][1]:>{width}.1f}" for n in names))

    if args.sweep:
        senv = {**env, "ASICFLOW_FLOWS": str(ROOT / "flows" / f"{args.sweep}.yaml")}
        if args.reuse:
            senv["ASICFLOW_SWEEP_REUSE"] = args.reuse
        t = time.perf_counter()
        doit = [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py")]
        subprocess.run(
            [*doit, *(["--always-execute"] if args.always else []), f"sweep:{args.sweep}"],
            check=True,
            env=senv,
            cwd=ROOT,
        )
        wall = time.perf_counter() - t
        table = (build / args.sweep / "sweep" / "sweep.md").read_text()
        print(f"\n== reuse sweep of {args.sweep} ({wall:.0f} s incl. doit) ==")
        print("\n".join(ln for ln in table.splitlines() if ln.startswith("|")))


if __name__ == "__main__":
    main()
