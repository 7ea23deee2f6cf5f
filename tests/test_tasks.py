"""The doit task graph built from the step declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from asicflow import tasks
from asicflow.config import load_flow
from asicflow.errors import AsicflowError
from asicflow.registry import BY_NAME, STEPS

ROOT = Path(__file__).resolve().parents[1]


def task_of(step: str, flow_file: Path) -> dict:
    flows = [(flow_file, load_flow(flow_file))]
    return next(t for t in tasks.step_tasks(BY_NAME[step], flows) if t.get("name"))


def test_every_step_is_a_task_with_its_declared_inputs_and_outputs() -> None:
    flow = ROOT / "flows" / "digits_mlp.yaml"
    for step in STEPS:
        t = task_of(step.name, flow)
        assert t["name"] == "digits_mlp"
        assert all(str(n) in " ".join(t["file_dep"]) for n in step.needs)
        assert t["targets"][-1].endswith(f"digits_mlp/{step.name}/metrics.json")


@pytest.mark.parametrize("enabled,source", [(False, "rtl"), (True, "tmr")])
def test_implementation_takes_the_tmr_rtl_when_enabled(
    tmp_path: Path, enabled: bool, source: str
) -> None:
    text = (ROOT / "flows" / "digits_mlp.yaml").read_text().replace("model: ../", f"model: {ROOT}/")
    f = tmp_path / "digits_mlp.yaml"
    f.write_text(text + f"options: {{tmr: {str(enabled).lower()}}}\n")
    for step in ("synth", "pnr"):
        deps = task_of(step, f)["file_dep"]
        assert any(d.endswith(f"digits_mlp/{source}/top.v") for d in deps), deps
        other = "rtl" if source == "tmr" else "tmr"
        assert not any(d.endswith(f"digits_mlp/{other}/top.v") for d in deps)


def test_a_broken_flow_file_fails_only_its_own_tasks(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [\n")
    good = ROOT / "flows" / "digits_mlp.yaml"
    with pytest.raises(AsicflowError) as exc:
        load_flow(bad)
    pair: list = [(bad, exc.value), (good, load_flow(good))]
    subtasks = [t for t in tasks.step_tasks(BY_NAME["csim"], pair) if t.get("name")]
    assert [t["name"] for t in subtasks] == ["bad", "digits_mlp"]
    failed = subtasks[0]["actions"][0]()
    assert "malformed YAML" in failed.message
    assert subtasks[1]["actions"][0][0] is tasks._action


def test_bare_doit_runs_the_plain_flows_through_report(tmp_path: Path) -> None:
    """A bare ``doit``: every flow without design options, through report; the hardened
    flows (proofs, fault campaigns, gate level) only when named; a broken file is listed so
    its error shows."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [\n")
    with pytest.raises(AsicflowError) as exc:
        load_flow(bad)
    names = ("digits_mlp", "digits_mlp_tmr", "tiny_mlp_hardened", "jet_mlp")
    pairs: list = [
        (ROOT / "flows" / f"{n}.yaml", load_flow(ROOT / "flows" / f"{n}.yaml")) for n in names
    ]
    assert tasks.default_tasks([*pairs, (bad, exc.value)]) == [
        "report:digits_mlp",
        "report:jet_mlp",
        "report:bad",
    ]


@pytest.mark.parametrize("step", ["sta", "power", "gl_sim", "i2c_cosim"])
def test_a_clock_change_reruns_the_steps_that_use_the_clock(tmp_path: Path, step: str) -> None:
    """The clock is in the up-to-date signature of every step that reads it (gl_sim and
    i2c_cosim derive their testbench timing from it)."""
    for period in ("10.0", "20.0"):
        text = (ROOT / "flows" / "tiny_mlp_hardened.yaml").read_text()
        text = text.replace(": ../", f": {ROOT}/").replace(
            "clock_period_ns: 10.0", f"clock_period_ns: {period}"
        )
        f = tmp_path / "tiny_mlp_hardened.yaml"
        f.write_text(text)
        checker = task_of(step, f)["uptodate"][0]  # doit's config_changed
        assert checker.config["clock_period_ns"] == float(period)
