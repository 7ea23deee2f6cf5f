"""Triple modular redundancy: insertion (``asicflow.tmr_run``) and its formal equivalence check.

Both run pyosys in a child process through the flow's one subprocess helper (a Yosys ERROR
ends the hosting process). ``run`` is :meth:`asicflow.steps.base.StepContext.run` or a
partial of :func:`asicflow.runner.run_tool`.

Equivalence: Yosys bit-blasts the original design (gold, prepared as TMR insertion prepared
it) and the TMR design with ``tmr_error`` no longer a port (gate) into one AIGER file each,
in separate runs; ABC's ``miter`` joins them into one output that is 1 whenever any output
differs. Every flip-flop of both starts at zero (so the replicas of a register agree, as
after a reset or a full weight load), and ABC's ``dprove`` (structural hashing, signal
correspondence by k-induction, bounded model checking) proves that output is never 1, for
every input sequence. Structural hashing merges the logic gold and gate share, so the proof
scales to networks with thousands of multipliers, where Yosys's own ``equiv_induct`` (one
SAT instance over both copies of every multiplier) did not finish, and one Yosys process
holding both bit-blasted copies of a reprogrammable network needed over 14 GB.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from asicflow.cocotb_run import command
from asicflow.errors import AsicflowError, CheckFailed
from asicflow.i2c.wrapper import REGISTER_FILE
from asicflow.runner import ToolResult, which

Runner = Callable[..., ToolResult]


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

# gold (the original) and gate (the TMR design): one AIGER file each
SIDES = ("gold", "gate")


def aiger_script(side: str, source: str, top: str) -> str:
    """Yosys script writing one side of the equivalence check as ``<side>.aig``.

    Each side is bit-blasted in its own Yosys run (one network in memory at a time: a
    reprogrammable network is millions of gates) and ABC builds the miter. Every flip-flop
    starts at zero; ports are written sorted by name, so both files list the same inputs and
    outputs in the same order (the gate's ``tmr_error`` is dropped).
    """
    prepare = (
        [PREPARE]  # the preparation TMR insertion ran, so both sides have the same cells
        if side == "gold"
        else ["proc; flatten; opt_clean", f"delete -output {top}/tmr_error"]
    )
    return "\n".join(
        [
            f"# Written by asicflow.tmr; replay: python -m asicflow.pyosys_run {side}.ys",
            f"read_verilog -sv {source}",
            f"hierarchy -check -top {top}",
            *prepare,
            # operands extended to the product width shrink back before bit-blasting
            "wreduce; opt_clean",
            "async2sync; dffunmap",
            "setundef -zero -init",
            "techmap; opt_clean; aigmap; opt_clean",
            "setundef -zero -init",
            f"write_aiger -zinit -symbols {side}.aig",
            "",
        ]
    )


def abc_path() -> str:
    """The ``yosys-abc`` that ships with pyosys (or one on PATH)."""
    import pyosys

    bundled = Path(pyosys.__file__).resolve().parent / "yosys-abc"
    if bundled.is_file():
        return str(bundled)
    return which("yosys-abc", "install the pyosys wheel (pip install -e .) or Debian yosys")


def prove(run: Runner, gold: Path, gate: Path, top: str, work: Path) -> dict[str, Any]:
    """Prove the TMR design ``gate`` equivalent to ``gold`` in ``work``: CheckFailed unless
    ABC's ``dprove`` (signal correspondence, induction, BMC) reports the miter's mismatch
    output unreachable from the all-zero start state."""
    sources = {"gold": gold, "gate": gate}
    for side in SIDES:
        script = aiger_script(side, os.path.relpath(sources[side], work), top)
        (work / f"{side}.ys").write_text(script)
    status = work / "equiv_status.txt"
    status.unlink(missing_ok=True)
    for side in SIDES:
        (work / f"{side}.aig").unlink(missing_ok=True)
        run([sys.executable, "-m", "asicflow.pyosys_run", f"{side}.ys"], cwd=work, tool="yosys")
    result = run(
        [
            abc_path(),
            "-c",
            f"miter gold.aig gate.aig; print_stats; dprove; write_status {status.name}",
        ],
        cwd=work,
        tool="yosys-abc",
        check=False,
    )
    verdict = status.read_text().split()[0] if status.is_file() else ""
    if verdict == "snl_SAT":
        raise CheckFailed(
            "TMR design is NOT proven equivalent to the original: ABC found an input sequence "
            f"on which the outputs differ (see {result.log})"
        )
    if verdict != "snl_UNSAT" or result.returncode != 0:
        raise CheckFailed(
            f"TMR design is NOT proven equivalent to the original: ABC's dprove ended "
            f"undecided ({verdict or 'no status'}, exit {result.returncode}; see {result.log})"
        )
    return {"equiv_method": "abc dprove", "equiv_proven": True}


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
    register_file: bytes | None = None,
) -> dict[str, Any]:
    """Fault-injection campaign on ``source`` (``mode``: ``tmr`` or ``plain``) with Icarus.

    ``registers`` are ``asicflow.tmr_run``'s report entries (the same list drives both
    modes, so both campaigns hit the same flip-flops); ``rtl_info`` is the rtl step's (or the
    i2c step's) ``rtl.json`` (top, latency, port widths). ``register_file``: the I2C register
    image (byte ``b`` at bits ``8b..8b+7`` of ``regs``) the testbench deposits into the
    register file (every replica of it with TMR) before the stream starts, so the upsets hit
    the loaded weights too. Returns the testbench's figures.
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
        "register_file": None if register_file is None else register_file.hex(),
        "register_wire": REGISTER_FILE,
        "idle_high": [p for p in ("scl_i", "sda_i") if p in rtl_info.get("ports", {})],
    }
    (work / "faults.json").write_text(json.dumps(faults, indent=1) + "\n")
    run(
        command(
            "icarus",
            str(rtl_info["top"]),
            [os.path.relpath(source, work)],
            "test_tmr_faults",
            {"ASICFLOW_STIMULI": os.path.relpath(stimuli, work), "ASICFLOW_FAULTS": "faults.json"},
        ),
        cwd=work,
        tool="cocotb",
    )
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    return result
