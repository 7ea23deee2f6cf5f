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
