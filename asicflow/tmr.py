"""Triple modular redundancy: insertion (``asicflow.tmr_run``) and its formal equivalence check.

Both run pyosys in a child process through the flow's one subprocess helper (a Yosys ERROR
ends the hosting process). ``run`` is :meth:`asicflow.steps.base.StepContext.run` or a
partial of :func:`asicflow.runner.run_tool`.

Equivalence: the original design (gold) and the TMR design with ``tmr_error`` no longer a
port (gate) are matched signal by signal by name (``equiv_make``: the outputs, and every
original register, which in the gate is its voter's output), then ``equiv_simple -seq`` and
``equiv_induct`` prove every match by temporal induction: if all matched signals agree up to
a cycle, they agree at the next one. That proves the two designs produce the same outputs
for every input sequence from corresponding states (the replicas of a register agreeing
with the original register), without any reset: the native RTL's data registers have none.
``equiv_status -assert`` makes an unproven match a Yosys ERROR (a non-zero exit).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from asicflow.errors import AsicflowError, CheckFailed
from asicflow.runner import ToolResult

Runner = Callable[..., ToolResult]

_PROVEN = re.compile(r"Of those cells (\d+) are proven and (\d+) are unproven")


def insert(
    run: Runner,
    source: Path,
    top: str,
    out_dir: Path,
    exclude: Sequence[str] = (),
    voter: str = "majority",
) -> dict[str, Any]:
    """Write ``out_dir/top.v`` (the TMR design) and ``out_dir/tmr.json`` (its registers)."""
    request = {
        "source": os.path.relpath(source, out_dir),
        "top": top,
        "output": "top.v",
        "report": "tmr.json",
        "exclude": list(exclude),
        "voter": voter,
    }
    (out_dir / "tmr_request.json").write_text(json.dumps(request, indent=1) + "\n")
    run([sys.executable, "-m", "asicflow.tmr_run", "tmr_request.json"], cwd=out_dir, tool="yosys")
    try:
        report: dict[str, Any] = json.loads((out_dir / "tmr.json").read_text())
    except (OSError, ValueError) as exc:
        raise AsicflowError(f"TMR insertion wrote no report in {out_dir}: {exc}") from exc
    return report


# What asicflow.tmr_run does before triplicating (every register one flip-flop cell).
PREPARE = "proc; flatten; opt; dffunmap -ce-only; opt_clean"


def equiv_script(gold: str, gate: str, top: str, seq: int = 2) -> str:
    """Yosys script proving ``gate`` (TMR, ``tmr_error`` dropped) equivalent to ``gold``."""
    return "\n".join(
        [
            "# Written by asicflow.tmr; replay: python -m asicflow.pyosys_run equiv.ys",
            f"read_verilog -sv {gold}",
            f"hierarchy -check -top {top}",
            # the preparation TMR insertion ran, so both sides have the same cells
            PREPARE,
            f"rename {top} gold",
            "design -stash gold",
            f"read_verilog -sv {gate}",
            f"hierarchy -check -top {top}",
            "proc; flatten; opt_clean",
            f"delete -output {top}/tmr_error",
            f"rename {top} gate",
            "design -stash gate",
            "design -copy-from gold -as gold gold",
            "design -copy-from gate -as gate gate",
            "equiv_make gold gate equiv",
            # identical logic between matched signals is merged, not handed to SAT
            "equiv_struct",
            "hierarchy -top equiv",
            "async2sync",
            f"equiv_simple -seq {seq}",
            f"equiv_induct -seq {seq}",
            "tee -o equiv_status.txt equiv_status",
            "equiv_status -assert",
            "",
        ]
    )


def prove(run: Runner, gold: Path, gate: Path, top: str, work: Path) -> dict[str, Any]:
    """Run the equivalence check in ``work``; CheckFailed unless every match is proven."""
    script = equiv_script(os.path.relpath(gold, work), os.path.relpath(gate, work), top)
    (work / "equiv.ys").write_text(script)
    status = work / "equiv_status.txt"
    status.unlink(missing_ok=True)
    result = run(
        [sys.executable, "-m", "asicflow.pyosys_run", "equiv.ys"],
        cwd=work,
        tool="yosys",
        check=False,
    )
    text = status.read_text() if status.is_file() else ""
    m = _PROVEN.search(text)
    if m is None:
        raise CheckFailed(
            f"TMR equivalence check did not run to equiv_status (exit {result.returncode}); "
            f"see {result.log}"
        )
    proven, unproven = int(m.group(1)), int(m.group(2))
    if unproven or result.returncode != 0 or proven == 0:
        raise CheckFailed(
            f"TMR design is NOT proven equivalent to the original: {unproven} of "
            f"{proven + unproven} matched signals unproven ({status})"
        )
    return {"equiv_cells": proven}


def campaign(
    run: Runner,
    source: Path,
    rtl_info: dict[str, Any],
    registers: list[dict[str, Any]],
    stimuli: Path,
    work: Path,
    mode: str,
    upsets: int,
    seed: int = 1,
) -> dict[str, Any]:
    """Fault-injection campaign on ``source`` (``mode``: ``tmr`` or ``plain``) with Icarus.

    ``registers`` are ``asicflow.tmr_run``'s report entries (the same list drives both
    modes, so both campaigns hit the same flip-flops); ``rtl_info`` is the rtl step's
    ``rtl.json`` (top, latency, port widths). Returns the testbench's figures.
    """
    work.mkdir(parents=True, exist_ok=True)
    faults = {
        "mode": mode,
        "registers": registers,
        "upsets": upsets,
        "seed": seed,
        "latency": int(rtl_info["latency_cycles"]),
        "in_width": int(rtl_info["input"]["width"]),
        "out_width": int(rtl_info["output"]["width"]),
        "out_size": int(rtl_info["output"]["size"]),
    }
    (work / "faults.json").write_text(json.dumps(faults, indent=1) + "\n")
    run(
        [
            sys.executable,
            "-m",
            "asicflow.cocotb_run",
            "--sim",
            "icarus",
            "--top",
            str(rtl_info["top"]),
            "--source",
            os.path.relpath(source, work),
            "--build-dir",
            "sim_build",
            "--test-module",
            "test_tmr_faults",
            "--env",
            f"ASICFLOW_STIMULI={os.path.relpath(stimuli, work)}",
            "--env",
            "ASICFLOW_FAULTS=faults.json",
            "--result",
            "result.json",
        ],
        cwd=work,
        tool="cocotb",
    )
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    return result
