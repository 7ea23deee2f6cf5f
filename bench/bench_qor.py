"""Hardware quality of results: the QoR nets of ../shared/bench-models/ and the shipped flows.

For each flow: ``asicflow run FLOW --to sta`` (the project's own synth and sta steps), then
the reference recipe of ../shared/bench-models/README.md (Debian Yosys 0.23, ``synth
-flatten``, ``dfflibmap``, ``abc -script abc_nosat.script``, ``stat -liberty``) on the same
``rtl/top.v``. Prints cells, area (both recipes), flip-flops, worst slack at the flow's clock,
latency in cycles, synthesis wall time and the area ratio to the reference figures. Heavy
(minutes per flow): not part of pytest. Nothing is asserted; figures go to stdout.

    python bench/bench_qor.py [--flows qor_digits qor_jet digits_mlp ...] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT.parent / "shared" / "bench-models"
QOR = {  # name: (model stem, reference area um^2 with the reference recipe)
    "qor_digits": ("qor_digits_64_32_10", 667_224.0),
    "qor_jet": ("qor_jet_16_64_32_32_5", 1_032_065.0),
}
_AREA = re.compile(r"Chip area for (?:top )?module '\S+':\s*([0-9.]+)")
_CELLS = re.compile(r"Number of cells:\s*([0-9]+)")


def qor_flow(name: str, build: Path) -> Path:
    """A flow YAML for a QoR net, reading all 10,000 vectors of its .npz."""
    stem = QOR[name][0]
    path = build / "qor_flows" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"model: {MODELS / (stem + '.h5')}\n"
        f"data:\n  source: npz\n  count: 10000\n  npz: {MODELS / (stem + '.npz')}\n"
        "clock_period_ns: 10.0\npdk: sky130hd\ncorner: tt\n"
    )
    return path


def reference_recipe(top_v: Path, top: str, liberty: Path, work: Path) -> dict[str, float]:
    """Area and cells of ``top_v`` with the reference recipe (Debian ``yosys``)."""
    yosys = shutil.which("yosys")
    if yosys is None:
        return {}
    lib = str(liberty)
    script = work / "reference.ys"
    script.write_text(
        "\n".join(
            [
                f"read_verilog {top_v}",
                f"synth -flatten -top {top}",
                f"dfflibmap -liberty {lib}",
                f"abc -liberty {lib} -script {MODELS / 'abc_nosat.script'}",
                "opt_clean",
                f"stat -liberty {lib}",
            ]
        )
        + "\n"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [yosys, "-q", "-l", str(work / "reference.log"), "-s", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    log = (work / "reference.log").read_text() if (work / "reference.log").exists() else ""
    area, cells = _AREA.findall(log), _CELLS.findall(log)
    if out.returncode != 0 or not area:
        return {"error": 1.0}
    return {
        "ref_area": float(area[-1]),
        "ref_cells": float(cells[-1]) if cells else 0.0,
        "ref_s": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", nargs="+", default=[*QOR, "digits_mlp", "jet_mlp"])
    ap.add_argument("--build", type=Path, default=ROOT / "build")
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from asicflow.config import load_flow
    from asicflow.liberty import liberty_cache, plain_liberty
    from asicflow.pdk import resolve_pdk

    rows = []
    for name in args.flows:
        path = qor_flow(name, args.build) if name in QOR else ROOT / "flows" / f"{name}.yaml"
        start = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "asicflow", "run", str(path), "--to", "sta"],
            cwd=ROOT,
            env={**os.environ, "ASICFLOW_BUILD": str(args.build)},
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
        flow = load_flow(path)
        d = args.build / flow.name
        if run.returncode != 0:
            print(
                f"{name}: the flow failed ({wall:.0f} s):\n{run.stdout[-2000:]}{run.stderr[-2000:]}"
            )
            continue
        synth = json.loads((d / "synth" / "metrics.json").read_text())
        sta = json.loads((d / "sta" / "metrics.json").read_text())
        info = json.loads((d / "rtl" / "rtl.json").read_text())
        row = {
            "flow": name,
            "cells": synth["design__instance__count"],
            "area": synth["design__instance__area"],
            "flops": synth["design__instance__count__flops"],
            "ws": sta["timing__setup__ws"],
            "path": sta["timing__critical_path_ns"],
            "latency": info["latency_cycles"],
            "synth_s": synth["flow__synth__runtime_s"],
        }
        if not args.no_reference:
            lib = plain_liberty(resolve_pdk(flow).liberty, liberty_cache(d))
            row.update(reference_recipe(d / "rtl" / "top.v", info["top"], lib, d / "synth"))
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    head = f"{'flow':<14}{'cells':>9}{'area um2':>12}{'ref-recipe':>12}{'vs ref':>8}"
    print(head + f"{'flops':>7}{'WS ns':>8}{'path ns':>8}{'lat':>5}{'synth s':>9}")
    for r in rows:
        ref = QOR.get(str(r["flow"]), ("", 0.0))[1]
        ra = r.get("ref_area")
        ratio = f"{ra / ref:.2f}x" if ra and ref else "-"
        print(
            f"{r['flow']:<14}{r['cells']:>9}{r['area']:>12,.0f}"
            f"{(f'{ra:,.0f}' if ra else '-'):>12}{ratio:>8}{r['flops']:>7}{r['ws']:>8.2f}"
            f"{r['path']:>8.2f}{r['latency']:>5}{r['synth_s']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
