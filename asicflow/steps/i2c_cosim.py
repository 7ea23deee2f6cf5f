"""Step ``i2c_cosim``: the I2C-loaded design (with TMR when on) against the golden model.

A real bus model (``cocotbext.i2c.I2cMaster``) loads the flow's model over I2C at
``i2c.speed_hz``, reads the register file back, streams every stimulus (0 mismatches
required), then, with ``i2c.reload_model``, loads the second model into the same running
design, reads back and streams again against that model's golden outputs. A foreign address
must be refused (NACK), and the last bytes are rewritten and read back in standard-mode
(100 kHz). Testbench: ``verification/test_i2c_weights.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asicflow.cocotb_run import check_make_paths, command
from asicflow.config import FlowConfig
from asicflow.errors import CheckFailed
from asicflow.fixed import IntArray
from asicflow.golden import compare_with_qkeras, run
from asicflow.ir import Graph
from asicflow.rtl.tools import check_simulator
from asicflow.steps.base import Step, StepContext
from asicflow.steps.i2c import RELOAD_DIR

TEST_MODULE = "test_i2c_weights"
TOOL_RTL_VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")
STANDARD_MODE_BYTES = 8


def i2c_sets(
    ctx: StepContext, x: IntArray, flow_y: IntArray, reload: bool = True
) -> list[dict[str, Any]]:
    """The weight sets to load: (name, writes.json, vectors.npz with x and expected y); the
    second (``i2c.reload_model``, unless ``reload`` is off) after its golden model is held
    to QKeras's outputs of it (:func:`reload_vs_qkeras`)."""
    i2c_dir = ctx.flow_dir / "i2c"
    sets = [("model", i2c_dir / "writes.json", flow_y)]
    if reload and ctx.flow.i2c.reload_model is not None:
        sets.append(
            ("reload_model", i2c_dir / RELOAD_DIR / "writes.json", reload_vs_qkeras(ctx, x))
        )
    out = []
    for name, writes, yy in sets:
        vec = ctx.dir / f"{name}_vectors.npz"
        with vec.open("wb") as fh:
            np.savez(fh, x=x, y=yy)
        out.append({"name": name, "writes": _rel(ctx, writes), "vectors": vec.name})
    return out


def reload_vs_qkeras(ctx: StepContext, x: IntArray) -> IntArray:
    """The golden outputs of the reload model's weights on ``x``, after every tapped layer of
    its golden trace was found equal to QKeras's (``i2c/reload/reference.npz``)."""
    reload = ctx.flow_dir / "i2c" / RELOAD_DIR
    with np.load(reload / "params.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    g2 = Graph.load(ctx.flow_dir / "convert").with_params(arrays)
    trace = run(g2, x)
    with np.load(reload / "reference.npz") as npz:
        ref = {k: npz[k] for k in npz.files}
    if not np.array_equal(ref["x"], x):
        raise CheckFailed(f"{reload / 'reference.npz'} holds other stimuli: rerun the i2c step")
    mismatches, first = compare_with_qkeras(g2, trace, ref)
    if first is not None:
        raise CheckFailed(
            f"the golden model of i2c.reload_model differs from QKeras ({mismatches} output "
            f"mismatches); first divergence: {first}"
        )
    return trace[g2.output.name]


def run_i2c_bench(
    ctx: StepContext,
    sources: list[Path],
    top: str,
    cfg: dict[str, Any],
    sim: str,
    defines: tuple[str, ...] = (),
    build_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Build ``sources`` and run the I2C testbench on them with ``cfg``; its result."""
    check_make_paths(ctx.flow_dir.parent)
    (ctx.dir / "i2c_test.json").write_text(json.dumps(cfg, indent=1) + "\n")
    argv = command(
        sim,
        top,
        [_rel(ctx, s) for s in sources],
        TEST_MODULE,
        {"ASICFLOW_I2C": "i2c_test.json"},
        defines,
        build_args,
    )
    ctx.run(argv, env=check_simulator(sim), check=False, tool=f"cocotb ({sim})")
    result_file = ctx.dir / "result.json"
    if not result_file.is_file():
        raise CheckFailed(f"the I2C testbench wrote no result (see {ctx.log})")
    result: dict[str, Any] = json.loads(result_file.read_text())
    problems = []
    if not result["ack_on_address"]:
        problems.append("the design did not acknowledge its address")
    if not result["nack_on_other_address"]:
        problems.append("the design acknowledged a foreign address")
    for s in result["sets"]:
        if s["readback_errors"]:
            problems.append(f"{s['name']}: read-back {s['first_readback_error']}")
        if s["mismatches"]:
            problems.append(f"{s['name']}: {s['mismatches']} mismatches, {s['first_mismatch']}")
    if result.get("standard_mode", {}).get("errors"):
        problems.append("standard-mode read-back differs")
    if result.get("tmr_error_seen"):
        problems.append("tmr_error was raised although nothing was upset")
    if problems:
        raise CheckFailed("I2C weight loading failed:\n" + "\n".join(f"  - {p}" for p in problems))
    return result


class I2cCosimStep(Step):
    name: ClassVar[str] = "i2c_cosim"
    reads: ClassVar[tuple[str, ...]] = (
        "sim.simulator",
        "i2c.speed_hz",
        "i2c.reload_model",
        "clock_period_ns",
    )
    needs: ClassVar[tuple[str, ...]] = (
        "golden/stimuli.npz",
        "i2c/regmap.json",
        "i2c/writes.json",
        "convert/graph.json",
        "convert/weights.npz",
    )
    outputs: ClassVar[tuple[str, ...]] = ("result.json",)
    doc: ClassVar[str] = "I2C bus model loads the weights, reads back, 0 mismatches (2 sets)"

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        reload = (f"i2c/{RELOAD_DIR}/writes.json", f"i2c/{RELOAD_DIR}/reference.npz")
        extra = reload if flow.i2c.reload_model is not None else ()
        return (*self.needs, f"{flow.rtl_step}/top.v", f"{flow.rtl_step}/rtl.json", *extra)

    def deps(self, flow: FlowConfig) -> list[Path]:
        from asicflow.rtl.cosim_run import TESTBENCH_DIR

        return [TESTBENCH_DIR / f"{TEST_MODULE}.py"]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        src = ctx.flow.rtl_step
        with np.load(ctx.input("golden", "stimuli.npz")) as npz:
            x, y = npz["x"], npz["y"]
        cfg = {
            "rtl_json": _rel(ctx, ctx.input(src, "rtl.json")),
            "regmap": _rel(ctx, ctx.input("i2c", "regmap.json")),
            "sets": i2c_sets(ctx, x, y),
            "speed_hz": ctx.flow.i2c.speed_hz,
            "check_standard_mode": STANDARD_MODE_BYTES,
            "clock_ns": ctx.flow.clock_period_ns,
        }
        top = json.loads(ctx.input(src, "rtl.json").read_text())["top"]
        sim = ctx.flow.sim.simulator
        # Yosys-written RTL (the TMR design) is not held to lint; the i2c step linted its own.
        args = TOOL_RTL_VERILATOR_ARGS if sim == "verilator" else ()
        result = run_i2c_bench(ctx, [ctx.input(src, "top.v")], top, cfg, sim, build_args=args)
        metrics: dict[str, Any] = {
            "i2c_cosim__sets": len(result["sets"]),
            "i2c_cosim__speed_hz": result["speed_hz"],
            "i2c_cosim__wall_s": round(result["wall_seconds"], 1),
        }
        if ctx.flow.i2c.reload_model is not None:  # reload_vs_qkeras raises on any
            metrics["i2c_cosim__reload_model_qkeras_mismatches"] = 0
        for s in result["sets"]:
            p = f"i2c_cosim__{s['name']}"
            metrics.update(
                {
                    f"{p}_bytes_loaded": s["bytes"],
                    f"{p}_load_ms": round(s["load_sim_us"] / 1000, 2),
                    f"{p}_readback_errors": s["readback_errors"],
                    f"{p}_vectors": s["vectors"],
                    f"{p}_mismatches": s["mismatches"],
                }
            )
        ctx.note(
            f"i2c_cosim: {len(result['sets'])} weight set(s) loaded over I2C at "
            f"{result['speed_hz'] / 1e3:.0f} kHz, read back and streamed: 0 mismatches"
        )
        return metrics


def _rel(ctx: StepContext, path: Path) -> str:
    """``path`` relative to the step folder (the testbench resolves against its JSON)."""
    return os.path.relpath(path, ctx.dir)
