"""Print the hardening figures (TMR proof, fault campaign, I2C loading, gate level, overhead)
of the hardened example flows.

Each flow runs through ``report`` with ``asicflow run`` into build/bench/hardening/
(incremental; ``--always`` reruns every step). Nothing is asserted; figures go to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_examples import ROOT, _fmt, run_flow

FLOWS = ("digits_mlp_tmr", "digits_mlp_hardened", "econ_encoder_tmr", "econ_encoder_hardened")

# (label, metric, format)
FIGURES = (
    ("TMR registers", "tmr__registers", ""),
    ("flip-flops protected", "tmr__flip_flops_protected", ""),
    ("TMR proven", "tmr__equiv_proven", ""),
    ("tmr step wall (s)", "flow__tmr__runtime_s", ".0f"),
    ("upsets injected", "faults__upsets", ""),
    ("TMR output errors", "faults__tmr_output_errors", ""),
    ("upsets flagged", "faults__tmr_upsets_flagged", ""),
    ("plain output errors", "faults__plain_output_errors", ""),
    ("register bytes", "i2c__register_bytes", ""),
    ("write transactions", "i2c__write_transactions", ""),
    ("I2C load (sim ms)", "i2c_cosim__model_load_ms", ".2f"),
    ("read-back errors", "i2c_cosim__model_readback_errors", ""),
    ("mismatches set 1", "i2c_cosim__model_mismatches", ""),
    ("mismatches set 2", "i2c_cosim__reload_model_mismatches", ""),
    ("i2c_cosim wall (s)", "i2c_cosim__wall_s", ".0f"),
    ("gate-level stimuli", "gl_sim__vectors", ""),
    ("gate-level mismatch", "gl_sim__mismatches", ""),
    ("gl_sim wall (s)", "gl_sim__wall_s", ".0f"),
    ("area (um^2)", "design__instance__area", ".1f"),
    ("cells", "design__instance__count", ""),
    ("slack (ns)", "timing__setup__ws", ".3f"),
    ("synth wall (s)", "flow__synth__runtime_s", ".0f"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", default=",".join(FLOWS), help="comma-separated flow names")
    ap.add_argument("--always", action="store_true", help="rerun every step")
    args = ap.parse_args()
    env = {**os.environ, "ASICFLOW_BUILD": str(ROOT / "build" / "bench" / "hardening")}
    names = [n for n in args.flows.split(",") if n]
    results = {name: run_flow(name, env, args.always) for name in names}

    print("\n== hardening (sky130hd tt, 10 ns clock) ==")
    width = max(len(n) for n in names) + 2
    print(f"{'figure':<22}" + "".join(f"{n:>{width}}" for n in names))
    for label, key, spec in FIGURES:
        cells = [_fmt(results[n][0].get(key), spec) for n in names]
        print(f"{label:<22}" + "".join(f"{c:>{width}}" for c in cells))
    print(f"{'flow wall (s)':<22}" + "".join(f"{results[n][1]:>{width}.1f}" for n in names))
    for name in names:
        rows = [k for k in sorted(results[name][0]) if k.startswith("overhead__")]
        for k in rows:
            print(f"{name}: {k} = {results[name][0][k]}")


if __name__ == "__main__":
    main()
