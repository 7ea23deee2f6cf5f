"""Radiation hardening and reprogramming on digits_mlp and econ_encoder, through doit as a
user runs it.

``*_tmr`` (TMR, constant weights): the TMR design is proven equivalent to the plain one and the
fault campaign (1,000 upsets) shows TMR masking every upset the plain design turns into wrong
outputs. ``*_hardened`` (TMR around the I2C register file and a reprogrammable network):
proven equivalent, both training runs loaded over I2C, read back and streamed at RTL; the
synthesized sky130hd netlist of econ_encoder_hardened is simulated at gate level with the PDK's
cell models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_e2e import copy_flow, doit

from asicflow.steps.gl_sim import READBACK_SAMPLE

pytestmark = [pytest.mark.slow, pytest.mark.tools]


def metrics(tmp: Path, flow: str, step: str) -> dict[str, Any]:
    return dict(json.loads((tmp / "build" / flow / step / "metrics.json").read_text()))


def hardened(tmp: Path, name: str) -> Path:
    """The flow with a 10 MHz system clock (the flow's is 100 MHz): the same RTL and netlist
    and the same bus speeds in a tenth of the simulated clock cycles per I2C bit; the gate-level
    load at 1 MHz SCL, 10 clocks per SCL period (the target's minimum)."""
    return copy_flow(
        tmp,
        name,
        extra="sim:\n  gl_vectors: 20\n  gl_i2c_speed_hz: 1000000\n",
        clock_period_ns="100.0",
    )


def check_loaded_over_i2c(tmp: Path, name: str, executed: list[str], out: str) -> None:
    """Proven equivalent; both weight sets written at 400 kHz, every byte read back, every
    stimulus streamed: 0 errors, 0 mismatches, the TMR error flag never raised."""
    assert {f"{s}:{name}" for s in ("i2c", "tmr", "i2c_cosim")} <= set(executed), out
    i2c = metrics(tmp, name, "i2c")
    with np.load(tmp / "build" / name / "convert" / "weights.npz") as params:
        assert i2c["i2c__parameters"] == sum(params[k].size for k in params.files)
    assert 8 * i2c["i2c__register_bytes"] >= i2c["i2c__parameter_bits"]
    assert metrics(tmp, name, "tmr")["tmr__equiv_proven"] is True
    result = json.loads((tmp / "build" / name / "i2c_cosim" / "result.json").read_text())
    assert result["ack_on_address"] and result["nack_on_other_address"]
    assert result["standard_mode"]["errors"] == 0 and not result["tmr_error_seen"]
    assert [s["name"] for s in result["sets"]] == ["model", "reload_model"]
    with np.load(tmp / "build" / name / "golden" / "stimuli.npz") as stimuli:
        count = len(stimuli["x"])
    for s in result["sets"]:
        assert s["readback_errors"] == 0 and s["mismatches"] == 0, s
        assert s["vectors"] == count and s["readback_bytes"] == i2c["i2c__register_bytes"]


def test_econ_encoder_hardened_proven_loaded_over_i2c_and_gate_level(tmp_path: Path) -> None:
    name = "econ_encoder_hardened"
    flow = hardened(tmp_path, name)
    # two doit workers: i2c_cosim and synth both follow tmr and run side by side
    jobs = ("-n", "2", "-P", "thread")
    executed, out = doit(tmp_path, [flow], *jobs, "i2c_cosim", "gl_sim", timeout=4800)
    check_loaded_over_i2c(tmp_path, name, executed, out)
    assert {f"synth:{name}", f"gl_sim:{name}"} <= set(executed), out
    gl = metrics(tmp_path, name, "gl_sim")
    assert gl["gl_sim__vectors"] == 20 and gl["gl_sim__mismatches"] == 0
    assert gl["gl_sim__i2c_loaded"] is True and gl["gl_sim__readback_bytes"] == 2 * READBACK_SAMPLE
    # the synthesized netlist holds the register file three times over
    synth = metrics(tmp_path, name, "synth")
    reg_bits = 8 * metrics(tmp_path, name, "i2c")["i2c__register_bytes"]
    assert synth["design__instance__count__flops"] >= 3 * reg_bits


def test_digits_mlp_hardened_proven_and_loaded_over_i2c(tmp_path: Path) -> None:
    name = "digits_mlp_hardened"
    executed, out = doit(tmp_path, [hardened(tmp_path, name)], "i2c_cosim")
    check_loaded_over_i2c(tmp_path, name, executed, out)


@pytest.mark.parametrize("name", ["digits_mlp_tmr", "econ_encoder_tmr"])
def test_tmr_proven_and_masks_1000_upsets(tmp_path: Path, name: str) -> None:
    flow = copy_flow(tmp_path, name)
    executed, out = doit(tmp_path, [flow], "faults")
    assert {f"tmr:{name}", f"faults:{name}"} <= set(executed), out
    t = metrics(tmp_path, name, "tmr")
    assert t["tmr__equiv_proven"] is True and t["tmr__registers"] > 0
    f = metrics(tmp_path, name, "faults")
    assert f["faults__upsets"] >= 1000
    assert f["faults__tmr_output_errors"] == 0
    assert f["faults__tmr_upsets_flagged"] == f["faults__upsets"]
    # the same upsets in the unprotected design do corrupt outputs
    assert f["faults__plain_output_errors"] > 0
