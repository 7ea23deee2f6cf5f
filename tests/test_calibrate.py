"""The delay model's calibration (asicflow.rtl.calibrate): one design measured with the synth
step's Yosys script and OpenSTA, and the fit recovering a known model from its own delays."""

from __future__ import annotations

from pathlib import Path

import pytest
from designs import PDK_ROOT

from asicflow.liberty import plain_liberty
from asicflow.pdk import load_pdk
from asicflow.rtl.adders import DelayModel
from asicflow.rtl.calibrate import Sample, design, fit, measure, predict


@pytest.mark.tools
def test_measured_adders_grow_with_width(tmp_path: Path) -> None:
    cfg = load_pdk("sky130hd")
    lib = plain_liberty(PDK_ROOT / cfg.corners["tt"].liberty, tmp_path / "liberty")
    narrow = measure(tmp_path, ("adder", 4, 2, 1), lib, "sky130hd")
    wide = measure(tmp_path, ("adder", 16, 2, 1), lib, "sky130hd")
    # registered inputs and output around one adder: a flip-flop's overhead plus its carry
    assert 0.3 < narrow < wide < 10.0, (narrow, wide)
    assert (tmp_path / "adder_16b_2x1" / "netlist.v").is_file()


def test_registered_sums_have_no_cast() -> None:
    model = DelayModel(sum_ns=0.5, carry_ns=0.2, register_ns=0.3, csa_ns=0.6)
    sums, t_sums = design("sums", 6, 16, 8, model)
    layer, t_layer = design("layer", 6, 16, 8, model)
    assert "c0" not in sums and "c0" in layer  # the casts' nets
    assert t_layer == pytest.approx(t_sums + 2 * model.sum_ns)


def test_fit_recovers_a_known_model() -> None:
    known = DelayModel(sum_ns=0.45, carry_ns=0.22, register_ns=0.34, fanout_ns=0.1, csa_ns=0.55)
    specs = [
        ("adder", 4, 2, 1),
        ("adder", 8, 2, 1),
        ("adder", 16, 2, 1),
        ("shared", 8, 5, 4),
        ("shared", 6, 9, 8),
        ("layer", 8, 4, 4),
        ("sums", 6, 8, 8),
        ("layer", 6, 16, 8),
    ]
    samples = [Sample(*spec, 0.0) for spec in specs]
    samples = [Sample(*spec, predict(known, s)) for spec, s in zip(specs, samples, strict=True)]
    got = fit(samples, known.register_ns)
    for s in samples:
        assert predict(got, s) == pytest.approx(s.measured_ns, rel=0.05), s
    assert got.margin_ns <= 0.2
