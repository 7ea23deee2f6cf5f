"""Step ``faults`` (``options.tmr``): the fault-injection campaign, with and without TMR.

``tmr.upsets`` single-event upsets (one flip-flop bit at a random cycle, at most one replica
wrong at a time) hit the TMR design while it streams the golden stimuli, and the same
registers are hit in the design before TMR. Expected: 0 output errors and the error flag
raised with TMR; output errors without. Icarus + cocotb (``verification/test_tmr_faults.py``).
With ``options.i2c_weights`` the design before TMR is the I2C wrapper: both designs start
from the flow's own register image (``i2c/writes.json``, deposited as after a full I2C load)
and the register file's flip-flops, most of the design's, are upset like the network's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from asicflow import tmr
from asicflow.config import FlowConfig
from asicflow.errors import CheckFailed
from asicflow.i2c.regmap import image_of_writes
from asicflow.steps.base import Step, StepContext


class FaultsStep(Step):
    name: ClassVar[str] = "faults"
    reads: ClassVar[tuple[str, ...]] = ("tmr.upsets", "options")
    needs: ClassVar[tuple[str, ...]] = ("tmr/top.v", "tmr/tmr.json", "golden/stimuli.npz")
    outputs: ClassVar[tuple[str, ...]] = ("faults.json",)
    doc: ClassVar[str] = "fault injection: upsets with and without TMR (options.tmr)"

    def needs_for(self, flow: FlowConfig) -> tuple[str, ...]:
        plain = flow.tmr_source_step
        image = ("i2c/writes.json",) if flow.options.i2c_weights else ()
        return (*self.needs, f"{plain}/top.v", f"{plain}/rtl.json", *image)

    def deps(self, flow: FlowConfig) -> list[Path]:
        from asicflow.rtl.cosim_run import TESTBENCH_DIR

        return [TESTBENCH_DIR / "test_tmr_faults.py"]

    def run(self, ctx: StepContext) -> dict[str, Any]:
        flow = ctx.flow
        if not flow.options.tmr:
            why = "options.tmr is off"
            (ctx.dir / "faults.json").write_text(json.dumps({"skipped": why}) + "\n")
            return {"faults__campaign": f"not run: {why}"}
        plain = flow.tmr_source_step
        info = json.loads(ctx.input(plain, "rtl.json").read_text())
        regs = json.loads(ctx.input("tmr", "tmr.json").read_text())["registers"]
        stimuli = ctx.input("golden", "stimuli.npz")
        image = None
        if plain == "i2c":
            image = image_of_writes(json.loads(ctx.input("i2c", "writes.json").read_text()))
        n = flow.tmr.upsets
        runs = {
            mode: tmr.campaign(
                ctx.run,
                ctx.input(step, "top.v"),
                info,
                regs,
                stimuli,
                ctx.dir / mode,
                mode,
                n,
                register_file=image,
            )
            for mode, step in (("tmr", "tmr"), ("plain", plain))
        }
        (ctx.dir / "faults.json").write_text(json.dumps(runs, indent=1) + "\n")
        t, p = runs["tmr"], runs["plain"]
        if t["output_errors"] or t["upsets_flagged"] != t["upsets"]:
            raise CheckFailed(
                f"TMR did not mask every upset: {t['output_errors']} output errors, "
                f"{t['upsets_flagged']} of {t['upsets']} upsets flagged"
            )
        return {
            "faults__upsets": t["upsets"],
            "faults__tmr_output_errors": t["output_errors"],
            "faults__tmr_upsets_flagged": t["upsets_flagged"],
            "faults__plain_output_errors": p["output_errors"],
            "faults__outputs_checked": p["outputs_checked"],
            "faults__register_file_preloaded": image is not None,
        }
