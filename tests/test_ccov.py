"""C code coverage (ccov) and its checker step: real g++ --coverage and gcovr runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from graphs import random_inputs, random_mlp, zoo_inputs
from test_design_check import all_kernels_graph

from asicflow.config import ChecksConfig, FlowConfig
from asicflow.errors import CheckFailed, ConfigError
from asicflow.ir import Graph
from asicflow.steps.base import execute
from asicflow.steps.ccov import CcovCheckStep, CcovStep, coverage_flags, uncovered
from asicflow.steps.hls import HlsStep
from asicflow.stimuli import write_stimuli

UNREACHABLE = (
    "    if (x[i] > 1000) {  // unreachable: no layer's values get near 1000\n"
    "      y[i] = 0;\n"
    "    }\n"
)


def prepare(build: Path, graph: Graph, name: str, n: int = 300) -> FlowConfig:
    """What convert, golden and hls leave in ``build/<name>``."""
    graph.save(build / name / "convert")
    write_stimuli(graph, random_inputs(graph, n), build / name / "golden")
    cfg = FlowConfig(model=Path("unused.h5"), name=name)
    execute(HlsStep(), cfg, build=build)
    return cfg


def add_unreachable_branch(kernel: Path) -> int:
    """Put an `if` that no stimulus can take after the activation's assignment; its line."""
    text = kernel.read_text()
    anchor = "    y[i] = (RELU && x[i] < 0) ? (out_t)0 : (out_t)x[i];\n"
    assert anchor in text
    kernel.write_text(text.replace(anchor, anchor + UNREACHABLE))
    return text[: text.index(anchor)].count("\n") + 2


@pytest.mark.tools
def test_ccov_reports_coverage_of_a_digits_like_graph(tmp_path: Path) -> None:
    flow = prepare(tmp_path, random_mlp([64, 16, 10], seed=0, w_bits=8), "digits_mlp")
    m = execute(CcovStep(), flow, build=tmp_path)
    assert m["ccov__vectors"] == 300
    assert m["ccov__line_percent"] == 100.0
    assert m["ccov__branch_percent"] == 100.0
    assert m["ccov__lines_total"] > 20 and m["ccov__lines_uncovered"] == 0
    assert m["ccov__branches_total"] > 0
    assert m["ccov__uncovered_lines"] == [] and m["ccov__uncovered_branches"] == []

    out = tmp_path / "digits_mlp" / "ccov"
    assert (out / "html" / "index.html").is_file()
    files = {f["file"] for f in json.loads((out / "coverage.json").read_text())["files"]}
    # The design only: generated firmware and the kernels, not the testbench or ac_types.
    assert files == {
        "firmware/digits_mlp.cpp",
        "firmware/asicflow/dense.h",
        "firmware/asicflow/activation.h",
        "firmware/asicflow/defines.h",
    }
    assert "--coverage" in (out / "commands.sh").read_text()
    config = json.loads((out / "config.json").read_text())
    assert "gcovr" in config["versions"]["gcovr"]

    checked = execute(CcovCheckStep(), flow, build=tmp_path)
    assert checked["ccov_check__passed"] is True


@pytest.mark.tools
def test_unreachable_branch_is_reported_by_file_and_line(tmp_path: Path) -> None:
    flow = prepare(tmp_path, random_mlp([16, 8, 4], seed=2), "dead_mlp")
    line = add_unreachable_branch(
        tmp_path / "dead_mlp" / "hls" / "firmware" / "asicflow" / "activation.h"
    )
    m = execute(CcovStep(), flow, build=tmp_path)
    where = f"firmware/asicflow/activation.h:{line}"
    body = f"firmware/asicflow/activation.h:{line + 1}"
    assert m["ccov__line_percent"] < 100.0 and m["ccov__branch_percent"] < 100.0
    assert m["ccov__lines_uncovered"] == 1
    assert m["ccov__uncovered_lines"] == [body]
    assert any(b.startswith(f"{where} ") for b in m["ccov__uncovered_branches"])

    with pytest.raises(CheckFailed) as err:
        execute(CcovCheckStep(), flow, build=tmp_path)
    assert f"lines never executed: {body}" in str(err.value)
    assert where in str(err.value)
    assert (tmp_path / "dead_mlp" / "ccov_check.failed").is_dir()

    relaxed = FlowConfig(
        model=flow.model,
        name=flow.name,
        checks=ChecksConfig(coverage_line_min=90.0, coverage_branch_min=80.0),
    )
    assert execute(CcovCheckStep(), relaxed, build=tmp_path)["ccov_check__line_min"] == 90.0


def test_ccov_check_rejects_a_threshold_outside_0_to_100(tmp_path: Path) -> None:
    folder = tmp_path / "f" / "ccov"
    folder.mkdir(parents=True)
    (folder / "coverage_summary.json").write_text(
        json.dumps({"line_total": 4, "line_covered": 4, "branch_total": 0, "branch_covered": 0})
    )
    (folder / "uncovered.json").write_text(json.dumps({"lines": [], "branches": []}))
    flow = FlowConfig(model=Path("m.h5"), name="f", checks=ChecksConfig(coverage_line_min=120.0))
    with pytest.raises(ConfigError, match="coverage_line_min"):
        execute(CcovCheckStep(), flow, build=tmp_path)
    ok = FlowConfig(model=Path("m.h5"), name="f")
    assert execute(CcovCheckStep(), ok, build=tmp_path)["ccov_check__passed"] is True


def test_coverage_flags_and_uncovered_listing() -> None:
    assert coverage_flags(["-O2", "-std=c++17", "-DX"]) == [
        "-std=c++17",
        "-DX",
        "-O0",
        "--coverage",
    ]
    cov = {
        "files": [
            {
                "file": "firmware/a.h",
                "lines": [
                    {"line_number": 3, "count": 5, "branches": [{"count": 5}, {"count": 0}]},
                    {"line_number": 4, "count": 0, "branches": []},
                    {"line_number": 5, "count": 0, "branches": [], "gcovr/excluded": True},
                ],
            }
        ]
    }
    lines, branches = uncovered(cov)
    assert lines == ["firmware/a.h:4"]
    assert branches == ["firmware/a.h:3 (1 of 2 branches never taken)"]


@pytest.mark.tools
def test_every_kernel_is_fully_covered_without_geometry_branches(tmp_path: Path) -> None:
    """Padding, windows and reuse rounds decide nothing at run time (a branch that only the
    geometry decides would be taken one way only and fail the default 100 % threshold)."""
    graph = all_kernels_graph()
    graph.save(tmp_path / "kernels" / "convert")
    write_stimuli(graph, zoo_inputs(graph, 300), tmp_path / "kernels" / "golden")
    flow = FlowConfig(model=Path("unused.h5"), name="kernels")
    execute(HlsStep(), flow, build=tmp_path)
    m = execute(CcovStep(), flow, build=tmp_path)
    assert m["ccov__uncovered_lines"] == [] and m["ccov__uncovered_branches"] == []
    assert (m["ccov__line_percent"], m["ccov__branch_percent"]) == (100.0, 100.0)
    files = json.loads((tmp_path / "kernels" / "ccov" / "coverage.json").read_text())["files"]
    assert {"firmware/asicflow/conv_reuse.h", "firmware/asicflow/dense_sparse.h"} <= {
        f["file"] for f in files
    }
