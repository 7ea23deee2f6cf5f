"""cocotb fault-injection campaign: single-event upsets while streaming golden stimuli.

Inputs from the environment (set by ``asicflow.cocotb_run``, started by ``asicflow.tmr.campaign``):

``ASICFLOW_STIMULI``  ``golden/stimuli.npz`` (raw ``x``, golden ``y``)
``ASICFLOW_FAULTS``   JSON: ``mode`` (``tmr``: flip one replica; ``plain``: flip the register),
                      ``registers`` (``asicflow.tmr_run``'s report entries), ``upsets``,
                      ``seed``, ``latency``, ``in_width``, ``out_width``, ``out_size``,
                      ``register_file`` (hex of the I2C register image, or null), ``register_wire``
                      (the register file's name in the design) and
                      ``idle_high`` (inputs held at 1: an idle I2C bus)
``ASICFLOW_RESULT``   where to write the JSON result

Stimuli stream back to back (in_valid high every cycle, cycling through ``x``); the output
seen at cycle ``t`` must be the golden output of the input driven at ``t - latency``. An
upset is injected 1 ns after a rising clock edge (clock period 10 ns): one bit, chosen
uniformly over all triplicated flip-flop bits, is inverted in one replica (``tmr``, replica
chosen at random) or in the single register (``plain``) by a read-modify-write of the
register's ``.value`` (a VPI deposit: the flip-flop holds the flipped value until its next
clock edge, as after a real upset). Outputs are sampled at the falling edge, so an upset is
visible to the logic for most of the cycle. At most one upset per cycle (probability
``P_UPSET``), so at most one replica is wrong at any time.

A design whose weights sit in an I2C register file (``options.i2c_weights``) gets its
register image deposited once reset is released (into ``regs`` without TMR, into every
replica of each register-file byte with TMR: the state after a full I2C load, which
``i2c_cosim`` checks over the bus), the bus idle; the register file's flip-flops are then
upset like any other.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

P_UPSET = 0.5
PERIOD_NS = 10


def _pack(row: np.ndarray, width: int) -> int:
    mask = (1 << width) - 1
    return sum((int(v) & mask) << (i * width) for i, v in enumerate(row))


def _preload(dut: Any, faults: dict[str, Any], regs: list[dict[str, Any]]) -> None:
    """Deposit the I2C register image: the state after a full load."""
    if not faults.get("register_file"):
        return
    image = int.from_bytes(bytes.fromhex(faults["register_file"]), "little")
    wire = faults["register_wire"]
    if faults["mode"] != "tmr":
        getattr(dut, wire).value = image
        return
    for reg in regs:
        if reg["wire"] == wire:
            part = (image >> int(reg["offset"])) & ((1 << int(reg["width"])) - 1)
            for replica in reg["replicas"]:
                getattr(dut, replica).value = part


def _value(handle: Any) -> int | None:
    value = handle.value
    try:
        return int(value.to_unsigned()) if hasattr(value, "to_unsigned") else int(value)
    except ValueError:
        return None


@cocotb.test()
async def fault_campaign(dut: Any) -> None:
    faults: dict[str, Any] = json.loads(Path(os.environ["ASICFLOW_FAULTS"]).read_text())
    stim = np.load(os.environ["ASICFLOW_STIMULI"])
    x, y = stim["x"], stim["y"]
    mode = faults["mode"]
    latency = int(faults["latency"])
    rng = random.Random(int(faults["seed"]))
    regs = [r for r in faults["registers"] if r["wire"] or mode == "tmr"]
    weights = [int(r["width"]) for r in regs]
    inputs = [_pack(row, int(faults["in_width"])) for row in x]
    expected = [_pack(row, int(faults["out_width"])) for row in y]
    has_flag = mode == "tmr"

    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    dut.in_valid.value = 0
    dut.in_data.value = 0
    dut.rst.value = 1
    for name in faults.get("idle_high", []):
        getattr(dut, name).value = 1
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    _preload(dut, faults, regs)  # after reset: the I2C target no longer drives X writes
    dut.in_valid.value = 1

    target = int(faults["upsets"])
    upsets = flagged = unknown_skipped = 0
    cycles = errors = 0
    flag_cycles = 0
    per_reg: dict[str, int] = {}
    driven: list[int] = []
    k = 0
    while upsets < target:
        # Falling edge: drive the next stimulus, then wait for the rising edge.
        dut.in_data.value = inputs[k % len(inputs)]
        driven.append(k % len(inputs))
        k += 1
        await RisingEdge(dut.clk)
        await Timer(1, unit="ns")
        injected = False
        if cycles > latency + 1 and upsets < target and rng.random() < P_UPSET:
            reg = rng.choices(regs, weights=weights)[0]
            bit = rng.randrange(int(reg["width"]))
            replica = rng.randrange(3)  # drawn in both modes: same upset sequence
            if mode == "tmr":
                handle = getattr(dut, reg["replicas"][replica])
                flip = 1 << bit
            else:
                handle = getattr(dut, reg["wire"])
                flip = 1 << (int(reg["offset"]) + bit)
            old = _value(handle)
            if old is None:
                unknown_skipped += 1
            else:
                handle.value = old ^ flip
                upsets += 1
                injected = True
                per_reg[reg["name"]] = per_reg.get(reg["name"], 0) + 1
        await FallingEdge(dut.clk)
        cycles += 1
        if has_flag:
            flag = _value(dut.tmr_error)
            if flag == 1:
                flag_cycles += 1
                flagged += int(injected)
        src = cycles - latency  # index into driven of the input whose output is due now
        if src >= 0:
            want = expected[driven[src]]
            if _value(dut.out_valid) != 1 or _value(dut.out_data) != want:
                errors += 1
    # Drain: the last inputs' outputs, no more upsets.
    for _ in range(latency):
        dut.in_data.value = inputs[k % len(inputs)]
        driven.append(k % len(inputs))
        k += 1
        await FallingEdge(dut.clk)
        cycles += 1
        src = cycles - latency
        if src >= 0:
            want = expected[driven[src]]
            if _value(dut.out_valid) != 1 or _value(dut.out_data) != want:
                errors += 1
        if has_flag and _value(dut.tmr_error) == 1:
            flag_cycles += 1
    result = {
        "mode": mode,
        "upsets": upsets,
        "upsets_flagged": flagged if has_flag else None,
        "flag_cycles": flag_cycles if has_flag else None,
        "cycles": cycles,
        "outputs_checked": cycles - latency + 1,
        "output_errors": errors,
        "skipped_unknown": unknown_skipped,
        "registers_hit": len(per_reg),
        "upsets_by_register": per_reg,
        "seed": int(faults["seed"]),
    }
    Path(os.environ["ASICFLOW_RESULT"]).write_text(json.dumps(result, indent=1) + "\n")
