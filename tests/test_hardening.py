"""Radiation hardening and reprogramming on digits_mlp, through doit as a user runs it.

``digits_mlp_tmr``: the TMR design is proven equivalent to the plain one and the fault
campaign (1,000 upsets) shows TMR masking every upset the plain design turns into wrong
outputs. ``digits_mlp_hardened`` (TMR around the I2C register file and a reprogrammable
network): proven equivalent, both training runs loaded over I2C, read back and streamed at
RTL, the synthesized sky130hd netlist simulated at gate level with the PDK's cell models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_e2e import copy_flow, doit

pytestmark = [pytest.mark.slow, pytest.mark.tools]


def metrics(tmp: Path, flow: str, step: str) -> dict[str, Any]:
    return dict(json.loads((tmp / "build" / flow / step / "metrics.json").read_text()))


def test_digits_mlp_tmr_proven_and_masks_1000_upsets(tmp_path: Path) -> None:
    flow = copy_flow(tmp_path, "digits_mlp_tmr")
    executed, out = doit(tmp_path, [flow], "faults")
    assert {"tmr:digits_mlp_tmr", "faults:digits_mlp_tmr"} <= set(executed), out
    t = metrics(tmp_path, "digits_mlp_tmr", "tmr")
    assert t["tmr__equiv_proven"] is True and t["tmr__registers"] > 0
    f = metrics(tmp_path, "digits_mlp_tmr", "faults")
    assert f["faults__upsets"] >= 1000
    assert f["faults__tmr_output_errors"] == 0
    assert f["faults__tmr_upsets_flagged"] == f["faults__upsets"]
    # the same upsets in the unprotected design do corrupt outputs
    assert f["faults__plain_output_errors"] > 0


def test_digits_mlp_hardened_proven_loaded_over_i2c_and_gate_level(tmp_path: Path) -> None:
    # A 25 MHz system clock here (the flow's is 100 MHz): the same RTL and netlist, and the
    # same bus speeds, in a quarter of the simulated clock cycles per I2C bit.
    flow = copy_flow(
        tmp_path,
        "digits_mlp_hardened",
        extra="sim:\n  gl_vectors: 20\n  gl_i2c_speed_hz: 1250000\n",
        clock_period_ns="40.0",
    )
    executed, out = doit(tmp_path, [flow], "i2c_cosim")
    name = "digits_mlp_hardened"
    assert {f"{s}:{name}" for s in ("i2c", "tmr", "i2c_cosim")} <= set(executed), out
    # gate level: ~20 minutes of Icarus for the 908-byte load on the 306k-cell netlist
    executed, out = doit(tmp_path, [flow], "gl_sim", timeout=3600)
    assert {f"synth:{name}", f"gl_sim:{name}"} <= set(executed), out
    i2c = metrics(tmp_path, name, "i2c")
    assert i2c["i2c__register_bytes"] == 908 and i2c["i2c__parameters"] == 1210
    assert metrics(tmp_path, name, "tmr")["tmr__equiv_proven"] is True
    result = json.loads((tmp_path / "build" / name / "i2c_cosim" / "result.json").read_text())
    assert result["ack_on_address"] and result["nack_on_other_address"]
    assert result["standard_mode"]["errors"] == 0 and not result["tmr_error_seen"]
    assert [s["name"] for s in result["sets"]] == ["model", "reload_model"]
    for s in result["sets"]:
        assert s["readback_errors"] == 0 and s["mismatches"] == 0, s
        assert s["vectors"] == 1797 and s["readback_bytes"] == 908
    gl = metrics(tmp_path, name, "gl_sim")
    assert gl["gl_sim__vectors"] == 20 and gl["gl_sim__mismatches"] == 0
    assert gl["gl_sim__i2c_loaded"] is True and gl["gl_sim__readback_bytes"] == 64
