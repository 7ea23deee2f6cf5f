"""Step ``tmr``: triplicate the RTL's flip-flops with majority voters (Yosys, in a child).

Reads ``top.v`` + ``rtl.json`` of the design step before it (``i2c`` when the I2C wrapper is
on, else ``rtl``; any RTL source that records its ``top``), writes
``tmr/top.v`` (same module name and ports, plus the output ``tmr_error``) and ``tmr/rtl.json``
(the rtl description plus a ``tmr`` entry: the port, the triplicated registers and their
replica names), then, with ``tmr.prove``, proves the result equivalent to the RTL
(``asicflow.tmr.prove``; a failed proof is a CheckFailed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asicflow import tmr
from asicflow.config import FlowConfig
from asicflow.errors import AsicflowError
from asicflow.steps.base import Step, StepContext, write_json
from asicflow.steps.synth import read_top


class TmrStep(Step):
    name = "tmr"
    reads = ("tmr.exclude", "tmr.voters", "tmr.prove")
    needs = ("rtl/top.v", "rtl/rtl.json")
    outputs = ("top.v", "rtl.json", "tmr.json", "tmr_request.json")
    doc = "triple modular redundancy: three replicas of every flip-flop, majority voters"

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        """TMR protects the design before it: the I2C wrapper when that is on, else rtl."""
        src = flow.tmr_source_step
        return (f"{src}/top.v", f"{src}/rtl.json")

    def deps(self, flow: FlowConfig) -> list[Path]:
        """The insertion and proof code: a change to them rebuilds the TMR design."""
        folder = Path(tmr.__file__).resolve().parent
        return [folder / "tmr.py", folder / "tmr_run.py"]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        src = ctx.flow.tmr_source_step
        rtl_json = ctx.input(src, "rtl.json")
        top = read_top(rtl_json)
        source = ctx.input(src, "top.v")
        if not source.is_file():
            raise AsicflowError(f"tmr needs {source} (written by the {src} step)")
        cfg = ctx.flow.tmr
        report = tmr.insert(ctx.run, source, top, ctx.dir, exclude=cfg.exclude)
        info: dict[str, Any] = json.loads(Path(rtl_json).read_text())
        info.setdefault("ports", {})["tmr_error"] = 1
        info["tmr"] = {
            "error_port": "tmr_error",
            "voters": cfg.voters,
            "registers": report["registers"],
            "excluded": report["excluded"],
        }
        write_json(ctx.dir / "rtl.json", info)
        metrics: dict[str, Any] = {
            "tmr__registers": len(report["registers"]),
            "tmr__registers_excluded": len(report["excluded"]),
            "tmr__flip_flops_protected": int(report["flip_flops"]),
        }
        if cfg.prove:
            # The promoted folder keeps its name relative to rtl/, so the script replays there.
            proof = tmr.prove(ctx.run, source, ctx.dir / "top.v", top, ctx.dir)
            metrics["tmr__equiv_proven"] = proof["equiv_proven"]
        return metrics
