"""Radiation hardening and reprogramming through doit as a user runs it, on tiny_mlp (16-8-5):
every hardening check at a size that takes seconds to a minute each.

``tiny_mlp_hardened`` (TMR around the I2C register file and a reprogrammable network): proven
equivalent; both training runs loaded over I2C at 400 kHz, read back and streamed at RTL (the
second run also held to QKeras); bytes overwritten and restored at 100 kHz; the fault campaign
upsets the register file's and the network's flip-flops (0 output errors with TMR, errors
without, errors with a deliberately broken voter); the synthesized sky130hd netlist loaded over
I2C and simulated at gate level with the PDK's cell models. TMR alone (constant weights) gets
its proof and campaign too. The same checks on digits_mlp and econ_encoder at full size are
points of the nightly regression (``regress/nightly.yaml``).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_e2e import copy_flow, doit

from asicflow import tmr
from asicflow.i2c.regmap import image_of_writes
from asicflow.runner import run_tool
from asicflow.steps.gl_sim import READBACK_SAMPLE

pytestmark = [pytest.mark.slow, pytest.mark.tools]

NAME = "tiny_mlp_hardened"


def metrics(tmp: Path, flow: str, step: str) -> dict[str, Any]:
    return dict(json.loads((tmp / "build" / flow / step / "metrics.json").read_text()))


def check_loaded_over_i2c(tmp: Path, name: str) -> None:
    """Proven equivalent; both weight sets written at 400 kHz, every byte read back, every
    stimulus streamed: 0 errors, 0 mismatches, the TMR error flag never raised; the 100 kHz
    overwrite (every bit flipped) and restore read back."""
    i2c = metrics(tmp, name, "i2c")
    with np.load(tmp / "build" / name / "convert" / "weights.npz") as params:
        assert i2c["i2c__parameters"] == sum(params[k].size for k in params.files)
    assert 8 * i2c["i2c__register_bytes"] >= i2c["i2c__parameter_bits"]
    tmr_m = metrics(tmp, name, "tmr")
    assert tmr_m["tmr__equiv_proven"] is True
    # every flip-flop: the network's pipeline, the I2C target and the whole register file
    assert tmr_m["tmr__flip_flops_protected"] > 8 * i2c["i2c__register_bytes"]
    result = json.loads((tmp / "build" / name / "i2c_cosim" / "result.json").read_text())
    assert result["ack_on_address"] and result["nack_on_other_address"]
    assert result["standard_mode"] == {"bytes": 8, "writes": 2, "errors": 0}
    assert not result["tmr_error_seen"]
    assert [s["name"] for s in result["sets"]] == ["model", "reload_model"]
    with np.load(tmp / "build" / name / "golden" / "stimuli.npz") as stimuli:
        count = len(stimuli["x"])
    for s in result["sets"]:
        assert s["readback_errors"] == 0 and s["mismatches"] == 0, s
        assert s["vectors"] == count and s["readback_bytes"] == i2c["i2c__register_bytes"]
    cosim = metrics(tmp, name, "i2c_cosim")
    assert cosim["i2c_cosim__reload_model_qkeras_mismatches"] == 0
    # The two training runs really are different weight sets.
    fdir = tmp / "build" / name / "i2c"
    first = image_of_writes(json.loads((fdir / "writes.json").read_text()))
    second = image_of_writes(json.loads((fdir / "reload" / "writes.json").read_text()))
    assert first != second


def test_tiny_mlp_hardened_every_hardening_check(tmp_path: Path) -> None:
    """tiny_mlp_hardened through every hardening step in one doit call (two workers), then
    each check; one test, so the build is made once whatever the pytest worker layout."""
    flow = copy_flow(tmp_path, NAME)
    steps = ("i2c_cosim", "faults", "gl_sim", "overhead")
    executed, out = doit(tmp_path, [flow], "-n", "2", "-P", "thread", *steps, timeout=1200)
    assert {f"{s}:{NAME}" for s in ("i2c", "tmr", "synth", *steps)} <= set(executed), out
    check_loaded_over_i2c(tmp_path, NAME)
    check_fault_campaign_hits_the_register_file(tmp_path)
    check_broken_voter_lets_upsets_through(tmp_path, tmp_path / "broken")
    check_gate_level_netlist_loaded_over_i2c(tmp_path)
    assert metrics(tmp_path, NAME, "overhead")["overhead__stages"] == 3  # rtl, i2c, tmr
    check_reload_model_is_held_to_qkeras(tmp_path)


def check_fault_campaign_hits_the_register_file(hardened: Path) -> None:
    f = metrics(hardened, NAME, "faults")
    assert f["faults__register_file_preloaded"] is True
    assert f["faults__upsets"] == 300
    assert f["faults__tmr_output_errors"] == 0
    assert f["faults__tmr_upsets_flagged"] == f["faults__upsets"]
    # the same upsets in the unprotected wrapper do corrupt outputs
    assert f["faults__plain_output_errors"] > 0
    runs = json.loads((hardened / "build" / NAME / "faults" / "faults.json").read_text())
    for mode in ("tmr", "plain"):
        hits = runs[mode]["upsets_by_register"]
        assert sum(hits.values()) == 300
        assert sum(n for r, n in hits.items() if r.startswith("regs[")) > 0  # register file
        assert sum(n for r, n in hits.items() if not r.startswith("regs[")) > 0  # network


def check_broken_voter_lets_upsets_through(hardened: Path, work: Path) -> None:
    """The campaign has teeth: a voter with one inverted input corrupts outputs."""
    fdir = hardened / "build" / NAME
    work.mkdir()
    run = partial(run_tool, log=work / "log.txt", cwd=work)
    info = json.loads((fdir / "i2c" / "rtl.json").read_text())
    report = tmr.insert(run, fdir / "i2c" / "top.v", info["top"], work, voter="broken")
    image = image_of_writes(json.loads((fdir / "i2c" / "writes.json").read_text()))
    result = tmr.campaign(
        run,
        work / "top.v",
        info,
        report["registers"],
        fdir / "golden" / "stimuli.npz",
        work / "campaign",
        "tmr",
        50,
        register_file=image,
    )
    assert result["upsets"] == 50
    assert result["output_errors"] > 0


def check_gate_level_netlist_loaded_over_i2c(hardened: Path) -> None:
    gl = metrics(hardened, NAME, "gl_sim")
    assert gl["gl_sim__vectors"] == 50 and gl["gl_sim__mismatches"] == 0
    assert gl["gl_sim__i2c_loaded"] is True and gl["gl_sim__readback_bytes"] == min(
        2 * READBACK_SAMPLE, metrics(hardened, NAME, "i2c")["i2c__register_bytes"]
    )
    # the synthesized netlist holds the register file three times over
    synth = metrics(hardened, NAME, "synth")
    reg_bits = 8 * metrics(hardened, NAME, "i2c")["i2c__register_bytes"]
    assert synth["design__instance__count__flops"] >= 3 * reg_bits


def check_reload_model_is_held_to_qkeras(hardened: Path) -> None:
    """A golden model of the second training run that differs from QKeras stops i2c_cosim."""
    ref = hardened / "build" / NAME / "i2c" / "reload" / "reference.npz"
    with np.load(ref) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = next(k for k in arrays if k.startswith("qkeras."))
    arrays[key] = arrays[key].copy()
    arrays[key][0, 0] += 0.25
    with ref.open("wb") as fh:
        np.savez(fh, **arrays)
    flow = hardened / f"{NAME}.yaml"
    _, out = doit(hardened, [flow], "i2c_cosim", ok=False)
    assert "differs from QKeras" in out and "Traceback" not in out


def test_tmr_alone_proven_and_masks_upsets(tmp_path: Path) -> None:
    """TMR with constant weights (no I2C): proof and campaign on the rtl step's design."""
    name = "tiny_mlp"
    flow = copy_flow(tmp_path, name, extra="options: {tmr: true}\ntmr: {upsets: 300}\n")
    executed, out = doit(tmp_path, [flow], "faults")
    assert {f"tmr:{name}", f"faults:{name}"} <= set(executed), out
    t = metrics(tmp_path, name, "tmr")
    assert t["tmr__equiv_proven"] is True and t["tmr__registers"] > 0
    f = metrics(tmp_path, name, "faults")
    assert f["faults__register_file_preloaded"] is False
    assert f["faults__upsets"] == 300 and f["faults__tmr_output_errors"] == 0
    assert f["faults__tmr_upsets_flagged"] == f["faults__upsets"]
    assert f["faults__plain_output_errors"] > 0
