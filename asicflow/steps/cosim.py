"""Step ``rtl_cosim``: cocotb co-simulation of ``rtl/top.v`` against the golden model.

The cocotb runner is driven from a child Python process (``asicflow.rtl.cosim_run``) through
the step's subprocess helper, so the simulator's output lands in the step log and both the
build and the test command are replayable from ``commands.sh``. The testbench
(``verification/test_network.py``) streams every stimulus back to back and again with random
in_valid gaps, and writes ``result.json``; any mismatch, a latency different from the one
the generator declared, or an initiation interval other than 1 fails the step.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from asicflow.cocotb_run import check_make_paths
from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, CheckFailed
from asicflow.rtl import VERILOG_FILE
from asicflow.rtl.cosim_run import TEST_MODULE, TESTBENCH_DIR
from asicflow.rtl.tools import check_simulator
from asicflow.steps.base import Step, StepContext
from asicflow.steps.rtl import RTL_JSON

RESULT = "result.json"
ACTIVITY = "activity.json"  # the measured switching activity, for the power step
BUILD_DIR = "sim_build"
TEST_DIR = "sim_run"


class CosimStep(Step):
    name = "rtl_cosim"
    reads = ("sim.simulator",)
    needs = (
        f"rtl/{VERILOG_FILE}",
        f"rtl/{RTL_JSON}",
        "golden/stimuli.npz",
        "convert/graph.json",
        "convert/weights.npz",
    )
    outputs = (RESULT, ACTIVITY)
    doc = "cocotb co-simulation of the RTL vs the golden model (bit exact, latency, II)"

    def deps(self, flow: FlowConfig) -> list[Path]:
        return [
            TESTBENCH_DIR / f"{TEST_MODULE}.py",
            Path(__file__).resolve().parent.parent / "rtl" / "cosim_run.py",
        ]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        sim = ctx.flow.sim.simulator
        env = check_simulator(sim)
        check_make_paths(ctx.flow_dir.parent)
        testbench = TESTBENCH_DIR / f"{TEST_MODULE}.py"
        if not testbench.is_file():
            raise AsicflowError(
                f"the cocotb testbench {testbench} is missing (rtl_cosim runs "
                "from a source checkout of asicflow)"
            )
        info = json.loads(ctx.input("rtl", RTL_JSON).read_text())
        top = str(info["top"])
        base = [sys.executable, "-m", "asicflow.rtl.cosim_run"]
        common = ["--sim", sim, "--top", top, "--build-dir", BUILD_DIR]

        start = time.monotonic()
        ctx.run(
            [*base, "build", *common, "--source", _rel(ctx, ctx.input("rtl", VERILOG_FILE))],
            env=env,
            tool=f"cocotb ({sim})",
        )
        build_s = time.monotonic() - start
        start = time.monotonic()
        ctx.run(
            [
                *base,
                "test",
                *common,
                "--test-dir",
                TEST_DIR,
                "--testbench-dir",
                str(TESTBENCH_DIR),
                "--stimuli",
                _rel(ctx, ctx.input("golden", "stimuli.npz")),
                "--rtl-json",
                _rel(ctx, ctx.input("rtl", RTL_JSON)),
                "--graph-dir",
                _rel(ctx, ctx.input("convert", "graph.json").parent),
                "--result",
                RESULT,
            ],
            env=env,
            tool=f"cocotb ({sim})",
        )
        run_s = time.monotonic() - start

        result = json.loads((ctx.dir / RESULT).read_text())
        ctx.note(
            f"rtl_cosim ({sim}): {result['vectors']} vectors x 2 passes, "
            f"{result['mismatches']} mismatches, latency {result['latency_cycles']}, "
            f"II {result['ii']}, {result['vectors_per_s']} vectors/s, build {build_s:.1f} s"
        )
        _check(result, info, sim, ctx)
        act = result.get("activity") or {}
        (ctx.dir / ACTIVITY).write_text(
            json.dumps({"simulator": sim, **act}, indent=1, sort_keys=True) + "\n"
        )
        ctx.note(
            f"rtl_cosim: switching activity {act.get('mean', 0):.4f} toggles/cycle over "
            f"{act.get('bits')} bits ({act.get('registers_sampled')} of "
            f"{act.get('registers_total')} registers and the ports), {act.get('cycles')} cycles"
        )
        return {
            "cosim__activity": round(float(act.get("mean", 0.0)), 6),
            "cosim__simulator": sim,
            "cosim__vectors": result["vectors"],
            "cosim__mismatches": result["mismatches"],
            "cosim__latency_cycles": result["latency_cycles"],
            "cosim__ii": result["ii"],
            "cosim__vectors_per_s": round(result["vectors_per_s"] or 0),
            "cosim__build_s": round(build_s, 3),
            "cosim__run_s": round(run_s, 3),
        }


def _check(result: dict[str, Any], info: dict[str, Any], sim: str, ctx: StepContext) -> None:
    n, bad = result["vectors"], result["mismatches"]
    if bad:
        f = result["first_mismatch"] or {}
        if f.get("output") is None:
            first = f"{f.get('pass')} pass: outputs missing from stimulus {f.get('stimulus')} on"
        else:
            first = (
                f"{f['pass']} pass, stimulus {f['stimulus']}, output {f['output']}: "
                f"expected raw {f['expected']}, got {f['got']}"
            )
        where = result.get("divergence") or (
            "every layer's signal matches the golden per-layer outputs for this stimulus"
        )
        raise CheckFailed(
            f"rtl_cosim ({sim}): {bad} mismatching vectors (of {n} per pass, "
            f"2 passes); first: {first}\n  first divergence: {where}\n"
            f"  log: {ctx.log}"
        )
    declared = info["latency_cycles"]  # None: the tool stated no fixed latency
    if not result["latency_constant"] or (
        declared is not None and result["latency_cycles"] != declared
    ):
        raise CheckFailed(
            f"rtl_cosim ({sim}): measured latency {result['latency_cycles']} "
            f"(constant: {result['latency_constant']}), the generator declared "
            f"{info['latency_cycles']}"
        )
    if result["ii"] != info["ii"]:
        raise CheckFailed(
            f"rtl_cosim ({sim}): measured initiation interval {result['ii']}, "
            f"the generator declared {info['ii']}"
        )


def _rel(ctx: StepContext, path: Path) -> str:
    """``path`` relative to the step folder (valid in the scratch and the final folder)."""
    return os.path.relpath(path, ctx.dir)
