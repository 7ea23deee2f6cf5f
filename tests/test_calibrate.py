"""The delay model's calibration (asicflow.rtl.calibrate): one design measured with the synth
step's Yosys script and OpenSTA, and the fit recovering a known model from its own delays."""

from __future__ import annotations

import dataclasses
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


def test_network_correction_goes_to_the_cast_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calibration networks' first correction is the cast's cost (their over-long stages
    end in a layer's cast), the next ones the derate; the first trial that meets 10 ns wins."""
    import asicflow.rtl.calibrate as calibrate

    model = DelayModel(sum_ns=0.5, carry_ns=0.2, register_ns=0.3, csa_ns=0.6)
    seen: list[DelayModel] = []
    worst = iter([10.6, 10.6, 10.6, 10.2, 10.2, 10.2, 9.7, 9.7, 9.7])

    def network(index: int, trial: DelayModel, budget: float) -> tuple[str, float]:
        seen.append(trial)
        return "", 7.0

    monkeypatch.setattr(calibrate, "network_design", network)
    monkeypatch.setattr(calibrate, "measure", lambda *a, **k: next(worst))
    got = calibrate.networks(model, tmp_path, tmp_path / "lib", "sky130hd")
    # the model's underestimate of the worst network: 10.6 measured, 7.0 + 0.3 modelled
    assert seen[3].cast_ns == pytest.approx(3.3) and seen[3].derate == 1.0
    assert seen[6].cast_ns == pytest.approx(3.3) and seen[6].derate > 1.0
    assert got == seen[6]


def test_network_spare_goes_back_from_the_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Networks that meet 10 ns with time to spare get it back from the margin, until a
    round misses: the last trial that met is the result."""
    import asicflow.rtl.calibrate as calibrate

    model = DelayModel(sum_ns=0.5, carry_ns=0.2, register_ns=0.3, margin_ns=2.0, cast_ns=1.0)
    seen: list[DelayModel] = []
    worst = iter([9.0, 8.8, 8.5, 10.1, 9.5, 9.2])

    def network(index: int, trial: DelayModel, budget: float) -> tuple[str, float]:
        seen.append(trial)
        return "", 7.0

    monkeypatch.setattr(calibrate, "network_design", network)
    monkeypatch.setattr(calibrate, "measure", lambda *a, **k: next(worst))
    got = calibrate.networks(model, tmp_path, tmp_path / "lib", "sky130hd")
    assert seen[3].margin_ns == pytest.approx(2.0 - 0.9)  # 9.9 - 9.0 spare
    assert got == model and len(seen) == 6


def test_port_weight_design_moves_by_mul_ns() -> None:
    """The port-weight calibration layers multiply registered weights (no constant folding)
    and their modelled delay moves by exactly mul_ns, which products() relies on."""
    model = DelayModel(sum_ns=0.5, carry_ns=0.2, register_ns=0.3, csa_ns=0.6)
    text, t0 = design("ports", 4, 8, 2, model)
    _, t1 = design("ports", 4, 8, 2, dataclasses.replace(model, mul_ns=0.7))
    assert text.count(" * ") == 8 * 2 and "wq <= w;" in text
    assert t1 == pytest.approx(t0 + 0.7)
