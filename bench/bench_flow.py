"""Print step wall times, csim vs QKeras throughput, cosim vectors/s and no-op doit time.

Stimuli: the 1,797 scikit-learn digits plus SYNTHETIC copies with uniform pixel noise, 10,000
in all (written to an .npz the flow reads). Nothing is asserted; figures go to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_stimuli(path: Path, n: int) -> None:
    from asicflow.datasets import sklearn_digits

    d = sklearn_digits()
    rng = np.random.default_rng(0)
    reps = -(-n // len(d.x))
    x = np.tile(d.x, (reps, 1))[:n]
    x[len(d.x) :] = np.clip(x[len(d.x) :] + rng.uniform(-0.1, 0.1, x[len(d.x) :].shape), 0, 1)
    y = np.tile(d.y, reps)[:n]
    np.savez(path, x=x.astype(np.float32), y=y, test=np.ones(n, bool))


def qkeras_predict_rate(model_path: Path, npz: Path, repeats: int = 3) -> float:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from asicflow.convert.qkeras_model import load_model

    model = load_model(model_path)
    x = np.load(npz)["x"]
    model.predict(x[:1024], batch_size=1024, verbose=0)  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(x, batch_size=1024, verbose=0)
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--icarus", action="store_true", help="also time cosim with Icarus")
    args = ap.parse_args()
    work = ROOT / "build" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    npz = work / "digits10k.npz"
    make_stimuli(npz, args.count)
    sims = ["verilator"] + (["icarus"] if args.icarus else [])
    env = {**os.environ, "ASICFLOW_BUILD": str(work / "build")}
    for sim in sims:
        flow = work / f"digits_bench_{sim}.yaml"
        flow.write_text(
            f"model: {ROOT / 'examples/digits_mlp/digits_mlp.h5'}\n"
            f"data: {{source: npz, npz: {npz}, count: {args.count}}}\n"
            f"sim: {{simulator: {sim}}}\nclock_period_ns: 10\n"
        )
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "asicflow", "run", str(flow), "--to", "report", "--always"],
            check=True,
            env=env,
            cwd=ROOT,
        )
        total = time.perf_counter() - t
        m = json.loads((work / "build" / flow.stem / "metrics.json").read_text())
        print(f"\n== digits_mlp, {args.count} stimuli, simulator {sim} ==")
        for k, v in m.items():
            if k.startswith("flow__"):
                print(f"  step {k.split('__')[1]:<10} {v:8.2f} s")
        print(f"  all steps (one process, incl. doit) {total:.1f} s")
        print(
            f"  csim  {m.get('csim__vectors_per_s', 0):10.0f} vectors/s "
            f"({m.get('csim__mismatches')} mismatches)"
        )
        print(
            f"  cosim {m.get('cosim__vectors_per_s', 0):10.0f} vectors/s "
            f"({m.get('cosim__mismatches')} mismatches, latency {m.get('cosim__latency_cycles')}"
            f", II {m.get('cosim__ii')})"
        )
        print(
            f"  area {m.get('design__instance__area')} um^2, slack "
            f"{m.get('timing__setup__ws')} ns at {m.get('timing__clock_period_ns')} ns"
        )
    rate = qkeras_predict_rate(ROOT / "examples/digits_mlp/digits_mlp.h5", npz)
    print(f"\n  QKeras model.predict {rate:10.0f} vectors/s (best of 3, batch 1024)")
    # no-op doit on the flows this bench just built (every step up to date): doit's own cost
    flows = [str(work / f"digits_bench_{sim}.yaml") for sim in sims]
    noop_env = {**env, "ASICFLOW_FLOWS": ":".join(flows)}
    doit = [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py")]
    times = []
    for _ in range(5):
        t = time.perf_counter()
        r = subprocess.run(
            [*doit, "report"], cwd=ROOT, env=noop_env, check=True, capture_output=True, text=True
        )
        times.append(time.perf_counter() - t)
    ran = [line for line in r.stdout.splitlines() if line.startswith(".  ")]
    print(
        f"  no-op doit ({len(flows)} bench flow(s) up to date, {len(ran)} tasks ran): "
        f"best {min(times):.2f} s, median {sorted(times)[2]:.2f} s"
    )


if __name__ == "__main__":
    main()
