"""Step ``i2c`` (``options.i2c_weights``): the network with its weights in an I2C register file.

Writes ``top.v``: the network generated with weights as inputs (module ``<flow>_net``; with
``options.i2c_weights`` the convert step sized its arithmetic for *any* weights of the
model's types), the I2C target (``asicflow/i2c/i2c_target.v``) and the wrapper ``<flow>`` (ports of
the network plus ``scl_i``, ``sda_i``, ``sda_oe``). Also the register map (``regmap.json``,
``regmap.md``) and the write transactions loading the flow's own model (``writes.json``,
``writes.txt``); with ``i2c.reload_model``, those of the second model in ``reload/``.
Problems with the register map (a parameter wider than ``i2c.max_weight_bits``) stop the step
before anything is written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, ClassVar

from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError, CheckFailed
from asicflow.i2c.program import write_program
from asicflow.i2c.regmap import RegisterMap
from asicflow.i2c.wrapper import I2C_PORTS, TARGET_V, wrapper_verilog
from asicflow.ir import param_arrays
from asicflow.rtl import VERILOG_FILE, generate
from asicflow.steps.base import REUSE_KEYS, Step, StepContext, write_json
from asicflow.steps.rtl import LINT_FLAGS, RTL_JSON, RtlStep
from asicflow.steps.rtl import _lint as lint

RELOAD_DIR = "reload"


class I2cStep(Step):
    name: ClassVar[str] = "i2c"
    reads: ClassVar[tuple[str, ...]] = ("name", "i2c", *REUSE_KEYS)
    needs: ClassVar[tuple[str, ...]] = (
        "convert/graph.json",
        "convert/weights.npz",
        "convert/reference.npz",
    )
    outputs: ClassVar[tuple[str, ...]] = (
        VERILOG_FILE,
        RTL_JSON,
        "regmap.json",
        "regmap.md",
        "writes.json",
        "writes.txt",
    )
    doc: ClassVar[str] = "I2C weight-loading wrapper: register file + I2C target (options)"

    def deps(self, flow: FlowConfig) -> list[Path]:
        deps = [*RtlStep().deps(flow), TARGET_V, *sorted(TARGET_V.parent.glob("*.py"))]
        if flow.i2c.reload_model is not None:
            deps.append(flow.i2c.reload_model)
        return deps

    def run(self, ctx: StepContext) -> dict[str, Any]:
        flow = ctx.flow
        # convert sized the arithmetic for any weights of their types (options.i2c_weights)
        graph = ctx.graph()
        top, net_top = flow.name, f"{flow.name}_net"
        # One stage per layer: pipelining the multipliers for the clock (rtl.weights: ports
        # does) made the tmr step's equivalence proof of digits_mlp_hardened run past 50
        # minutes (42,204 latches, against minutes unpipelined), so the I2C designs keep it.
        design = generate(graph, net_top, weights="ports")
        # Checked before anything is written: a bad map leaves no files behind.
        regmap = RegisterMap.from_rtl(design.info, flow.i2c.address, flow.i2c.max_weight_bits)

        wrapper = wrapper_verilog(top, net_top, design.info, regmap)
        (ctx.dir / VERILOG_FILE).write_text(
            design.verilog + "\n" + TARGET_V.read_text() + "\n" + wrapper
        )
        regmap.save(ctx.dir / "regmap.json")
        (ctx.dir / "regmap.md").write_text(regmap.table())
        arrays = {f"{pa.layer}.{pa.name}": pa.values for pa in param_arrays(graph)}
        n_writes = write_program(regmap, arrays, flow.i2c.write_chunk, ctx.dir)
        write_json(ctx.dir / RTL_JSON, _info(design.info, top, net_top, regmap))

        rc, diags = lint(ctx, LINT_FLAGS, top)
        if rc != 0 or diags:
            shown = "\n".join(f"  {d}" for d in diags[:20]) or "  (see log)"
            raise CheckFailed(f"verilator lint of the I2C wrapper failed:\n{shown}")

        metrics: dict[str, Any] = {
            "i2c__address": f"0x{regmap.address:02x}",
            "i2c__register_bytes": regmap.nbytes,
            "i2c__parameter_bits": regmap.bits,
            "i2c__parameters": sum(f.count for f in regmap.fields),
            "i2c__write_transactions": n_writes,
            "i2c__net_flops": design.info["flops"],
        }
        if flow.i2c.reload_model is not None:
            metrics["i2c__reload_write_transactions"] = _reload(ctx, flow.i2c.reload_model)
        ctx.note(
            f"i2c: {regmap.nbytes} register bytes ({regmap.bits} parameter bits) at address "
            f"0x{regmap.address:02x}; {n_writes} write transactions load the model"
        )
        return metrics


def _reload(ctx: StepContext, model: Path) -> int:
    """Convert the second model (TensorFlow, in a child) into ``reload/`` transactions, and
    QKeras's outputs of it on the flow's stimuli (``reload/reference.npz``)."""
    ctx.run(
        [
            sys.executable,
            "-m",
            "asicflow.i2c.program",
            str(ctx.flow.source),
            str(model),
            "regmap.json",
            RELOAD_DIR,
            "--reference",
            os.path.relpath(ctx.input("convert", "reference.npz"), ctx.dir),
        ],
        tool="i2c programming helper (TensorFlow + QKeras)",
    )
    data = json.loads((ctx.dir / RELOAD_DIR / "writes.json").read_text())
    if not data["transactions"]:
        raise AsicflowError(f"no write transactions for {model}")
    return len(data["transactions"])


def _info(net: dict[str, Any], top: str, net_top: str, regmap: RegisterMap) -> dict[str, Any]:
    """The wrapper's rtl.json: the network's description, its ports and probes re-rooted."""
    info = dict(net)
    ports = {k: v for k, v in net["ports"].items() if k != "params_in"}
    info.update(
        top=top,
        ports={**ports, **I2C_PORTS},
        weights="i2c",
        layers=[{**p, "signal": f"u_net.{p['signal']}"} for p in net["layers"]],
        i2c={
            "address": regmap.address,
            "register_bytes": regmap.nbytes,
            "parameter_bits": regmap.bits,
            "network": net_top,
            "sda": "open drain: sda_oe = 1 pulls SDA low",
        },
    )
    return info
