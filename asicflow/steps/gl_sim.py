"""Step ``gl_sim``: gate-level simulation of the synthesized netlist with the PDK's cell models.

The netlist of ``synth`` (TMR and I2C wrapper included when the flow has them) is simulated
with Icarus on the PDK configuration's cell Verilog models (``files.verilog``, with
``FUNCTIONAL`` defined: zero-delay functional models, the sky130 UDP flip-flops included;
Verilator 5.49 simulates them too, but compiling a 28k-cell netlist with the models took
longer than 20 minutes, where Icarus starts at once)
on the first ``sim.gl_vectors`` stimuli: 0 mismatches against the golden model. An I2C
design first gets its weights over the bus model (``verification/test_i2c_weights.py``) with
SCL at ``sim.gl_i2c_speed_hz``: gate-level simulation costs per clock cycle, and the target
samples SCL in the clk domain, so a faster SCL exercises the same logic in fewer cycles
(``i2c_cosim`` covers the 100 kHz and 400 kHz bus speeds at RTL). It reads back the first
and the last ``READBACK_SAMPLE`` register bytes (``i2c_cosim`` reads back every byte at
RTL); a wrong weight anywhere shows up as mismatches. Other designs stream
through ``verification/test_network.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from asicflow.cocotb_run import check_make_paths, command
from asicflow.config import FlowConfig
from asicflow.errors import CheckFailed, ConfigError
from asicflow.pdk import resolve_pdk
from asicflow.rtl.tools import check_simulator
from asicflow.steps.base import Step, StepContext
from asicflow.steps.i2c_cosim import i2c_sets, run_i2c_bench

SIMULATOR = "icarus"
DEFINES = ("FUNCTIONAL", "UNIT_DELAY=")
# Register bytes read back at gate level: the first and the last this many (every byte is
# read back by i2c_cosim at RTL; at gate level a full read-back would double the load, which
# is 31 minutes of Icarus for econ_encoder_hardened's 1,608 bytes at 10 clocks per SCL).
READBACK_SAMPLE = 32


class GlSimStep(Step):
    name: ClassVar[str] = "gl_sim"
    reads: ClassVar[tuple[str, ...]] = (
        "pdk",
        "pdk_root",
        "sim.gl_vectors",
        "sim.gl_i2c_speed_hz",
        "options",
        "clock_period_ns",
    )
    needs: ClassVar[tuple[str, ...]] = ("synth/netlist.v", "golden/stimuli.npz")
    outputs: ClassVar[tuple[str, ...]] = ("result.json",)
    doc: ClassVar[str] = "gate-level simulation of the netlist with the PDK's cell models"

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        extra = ("i2c/regmap.json", "i2c/writes.json") if flow.options.i2c_weights else ()
        return (*self.needs, f"{flow.rtl_step}/rtl.json", *extra)

    def deps(self, flow: FlowConfig) -> list[Path]:
        from asicflow.rtl.cosim_run import TESTBENCH_DIR

        return [TESTBENCH_DIR / "test_i2c_weights.py", TESTBENCH_DIR / "test_network.py"]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        flow = ctx.flow
        pdk = resolve_pdk(flow)
        models = [pdk.path(v) for v in pdk.config.files.verilog]
        if not models:
            raise ConfigError(
                str(pdk.config.source),
                ["'files.verilog' lists no cell models: gl_sim needs the cells' Verilog"],
            )
        netlist = ctx.input("synth", "netlist.v")
        rtl_json = ctx.input(flow.rtl_step, "rtl.json")
        top = json.loads(rtl_json.read_text())["top"]
        with np.load(ctx.input("golden", "stimuli.npz")) as npz:
            x, y = npz["x"][: flow.sim.gl_vectors], npz["y"][: flow.sim.gl_vectors]
        sources = [netlist, *models]
        if flow.options.i2c_weights:
            cfg = {
                "rtl_json": os.path.relpath(rtl_json, ctx.dir),
                "regmap": os.path.relpath(ctx.input("i2c", "regmap.json"), ctx.dir),
                "sets": i2c_sets(ctx, x, y, reload=False),
                "speed_hz": flow.sim.gl_i2c_speed_hz,
                "check_standard_mode": 0,  # 100 kHz is i2c_cosim's (RTL): ~10^5 cycles a byte
                "readback_sample": READBACK_SAMPLE,
                "clock_ns": flow.clock_period_ns,
            }
            result = run_i2c_bench(ctx, sources, top, cfg, SIMULATOR, DEFINES)
            s = result["sets"][0]
            vectors, mismatches = s["vectors"], s["mismatches"]
            extra: dict[str, Any] = {"gl_sim__readback_bytes": s["readback_bytes"]}
        else:
            result = _run_network(ctx, sources, top, rtl_json, x, y)
            vectors, mismatches = result["vectors"], result["mismatches"]
            extra = {}
        ctx.note(
            f"gl_sim: {vectors} stimuli through the {pdk.config.name} netlist with its cell "
            f"models: {mismatches} mismatches"
        )
        return {
            "gl_sim__vectors": vectors,
            "gl_sim__mismatches": mismatches,
            "gl_sim__i2c_loaded": flow.options.i2c_weights,
            "gl_sim__wall_s": round(float(result.get("wall_seconds", 0.0)), 1),
            **extra,
        }


def _run_network(
    ctx: StepContext, sources: list[Path], top: str, rtl_json: Path, x: Any, y: Any
) -> dict[str, Any]:
    """The plain streaming testbench on the netlist (no layer probes: names are gone)."""
    check_make_paths(ctx.flow_dir.parent)
    with (ctx.dir / "vectors.npz").open("wb") as fh:
        np.savez(fh, x=x, y=y)
    argv = command(
        SIMULATOR,
        top,
        [os.path.relpath(s, ctx.dir) for s in sources],
        "test_network",
        {
            "ASICFLOW_STIMULI": "vectors.npz",
            "ASICFLOW_RTL_JSON": os.path.relpath(rtl_json, ctx.dir),
            "ASICFLOW_PARAMS": os.path.relpath(ctx.input("convert", "weights.npz"), ctx.dir),
        },
        DEFINES,
    )
    ctx.run(argv, env=check_simulator(SIMULATOR), check=False, tool=f"cocotb ({SIMULATOR})")
    result_file = ctx.dir / "result.json"
    if not result_file.is_file():
        raise CheckFailed(f"the gate-level testbench wrote no result (see {ctx.log})")
    result: dict[str, Any] = json.loads(result_file.read_text())
    if result["mismatches"]:
        raise CheckFailed(
            f"gate-level simulation: {result['mismatches']} mismatches; first: "
            f"{result.get('first_mismatch')}"
        )
    return result
