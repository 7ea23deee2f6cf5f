"""Static design checks: real cppcheck and clang-tidy runs on generated and broken kernels, and
the no-overflow range proof from the IR."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from graphs import Builder, example_graphs, random_inputs, random_mlp

from asicflow.checks.ranges import prove
from asicflow.config import FlowConfig, RtlConfig
from asicflow.errors import CheckFailed, ToolMissing
from asicflow.fixed import FixedType
from asicflow.hls.writer import KERNEL_HEADERS
from asicflow.ir import Dense, Graph
from asicflow.precision import Override, dense_bounds, infer
from asicflow.steps.base import execute
from asicflow.steps.design_check import DesignCheckStep
from asicflow.steps.hls import HlsStep
from asicflow.stimuli import write_stimuli

MARK = "// BROKEN"
ACC_INIT = "    acc_t acc = b[j];\n"
ACC_ADD = "      acc += (acc_t)(x[i] * w[i * N_OUT + j]);\n"
LOOP_IN = "    for (int i = 0; i < N_IN; i++) {\n"
RESULT = "    y[j] = (out_t)acc;\n"
NAMESPACE = "namespace asicflow {\n"
INCLUDE = '#include "asicflow/defines.h"\n'

# name -> (edits to the kernel copy, rule, what reports it); MARK sits on the expected line.
BROKEN = {
    "new": (
        [
            (
                ACC_INIT,
                f"    acc_t* scratch = new acc_t[N_IN];  {MARK}\n{ACC_INIT}"
                "    delete[] scratch;\n",
            )
        ],
        "dynamic-memory",
        {"cppcoreguidelines-owning-memory", "hlsDynamicMemory"},
    ),
    "std_vector": (
        [
            (INCLUDE, f"#include <vector>\n\n{INCLUDE}"),
            (ACC_INIT, f"    std::vector<acc_t> parts(N_IN);  {MARK}\n{ACC_INIT}"),
        ],
        "dynamic-memory",
        {"hlsDynamicMemory"},
    ),
    "recursion": (
        [
            (
                NAMESPACE,
                f"{NAMESPACE}\ninline int depth(int n) {{ return n <= 0 ? 0 : "
                f"1 + depth(n - 1); }}  {MARK}\n",
            ),
            (RESULT, "    y[j] = (out_t)(acc + depth(3));\n"),
        ],
        "recursion",
        {"misc-no-recursion"},
    ),
    "out_of_bounds": (
        [
            (LOOP_IN, LOOP_IN.replace("i < N_IN", "i <= N_IN")),
            (ACC_ADD, ACC_ADD.rstrip("\n") + f"  {MARK}\n"),
        ],
        "out-of-bounds",
        {"arrayIndexOutOfBounds"},
    ),
    "uninitialized_accumulator": (
        [(ACC_INIT, "    acc_t acc;\n"), (ACC_ADD, ACC_ADD.rstrip("\n") + f"  {MARK}\n")],
        "uninitialized-data",
        {"clang-analyzer-core.UndefinedBinaryOperatorResult"},
    ),
    "while_loop": (
        [(RESULT, f"    while (acc > 0) {{  {MARK}\n      acc -= 1;\n    }}\n{RESULT}")],
        "unbounded-loop",
        {"hlsUnboundedLoop"},
    ),
    "counter_written_in_body": (
        [
            (LOOP_IN, LOOP_IN.rstrip("\n") + f"  {MARK}\n"),
            (ACC_ADD, f"{ACC_ADD}      if (acc < 0) i++;\n"),
        ],
        "unbounded-loop",
        {"hlsUnboundedLoop"},
    ),
}


def prepare(build: Path, graph: Graph, name: str) -> FlowConfig:
    """What convert and hls leave in ``build/<name>``."""
    graph.save(build / name / "convert")
    write_stimuli(graph, random_inputs(graph, 20), build / name / "golden")
    flow = FlowConfig(model=Path("unused.h5"), name=name)
    execute(HlsStep(), flow, build=build)
    return flow


def break_kernel(kernel: Path, edits: list[tuple[str, str]]) -> int:
    """Apply ``edits`` to a kernel copy; the line holding MARK."""
    text = kernel.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    kernel.write_text(text)
    return next(i + 1 for i, ln in enumerate(text.splitlines()) if MARK in ln)


@pytest.mark.tools
@pytest.mark.parametrize(
    "name, graph",
    example_graphs(),
)
def test_design_check_passes_on_generated_code(tmp_path: Path, name: str, graph: Graph) -> None:
    flow = prepare(tmp_path, graph, name)
    m = execute(DesignCheckStep(), flow, build=tmp_path)
    assert m["design_check__violations"] == 0
    assert m["design_check__violations__recursion"] == 0
    assert m["design_check__range__values"] == len(graph.layers) + sum(
        isinstance(lay, Dense) for lay in graph.layers
    )
    out = tmp_path / name / "design_check"
    assert "**PASSED" in (out / "report.md").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] and report["violations"] == []
    assert "misc-no-recursion" in " ".join(report["rules"]["recursion"]["enforced_by"])
    assert all(r["status"] in ("declared", "fits", "saturates") for r in report["ranges"])
    versions = json.loads((out / "config.json").read_text())["versions"]
    assert "2." in versions["cppcheck"] and "version" in versions["clang-tidy"]


@pytest.mark.tools
@pytest.mark.parametrize("variant", sorted(BROKEN))
def test_design_check_names_rule_and_line_of_a_broken_kernel(tmp_path: Path, variant: str) -> None:
    edits, rule, checks = BROKEN[variant]
    flow = prepare(tmp_path, random_mlp([8, 4, 3], seed=1), "broken")
    line = break_kernel(tmp_path / "broken" / "hls" / "firmware" / "asicflow" / "dense.h", edits)
    with pytest.raises(CheckFailed) as err:
        execute(DesignCheckStep(), flow, build=tmp_path)
    assert f"{rule}: firmware/asicflow/dense.h:{line}: " in str(err.value)
    report = json.loads((tmp_path / "broken" / "design_check.failed" / "report.json").read_text())
    here = [
        v
        for v in report["violations"]
        if v["file"] == "firmware/asicflow/dense.h" and v["line"] == line
    ]
    assert {v["check"] for v in here if v["rule"] == rule} >= checks
    assert not (tmp_path / "broken" / "design_check").exists()


def narrow_graph() -> Graph:
    """dense0's accumulator and dense1's AC_WRAP result are too narrow for their sums."""
    g = random_mlp([16, 8, 4], seed=4, sparsity=0.0)
    t = FixedType.parse
    infer(
        g,
        {
            "dense0": Override(accum=t("ac_fixed<10, 3, true>")),
            "dense1": Override(result=t("ac_fixed<5, 2, true, AC_TRN, AC_WRAP>")),
        },
    )
    return g


def test_range_proof_flags_narrow_accumulator_and_wrapping_output() -> None:
    rows = {(b.layer, b.what): b for b in prove(narrow_graph())}
    assert rows[("input", "input")].status == "declared"
    assert rows[("dense0", "accumulator")].status == "overflows"
    assert rows[("relu0", "output")].status in ("fits", "saturates")
    assert rows[("dense1", "accumulator")].status == "fits"
    assert rows[("dense1", "output")].status == "overflows"
    ok = {(b.layer, b.what): b for b in prove(random_mlp([16, 8, 4], seed=4, sparsity=0.0))}
    assert all(b.ok for b in ok.values())


def test_range_proof_agrees_with_precision_sizing() -> None:
    """Independent bounds equal precision.dense_bounds' where products land exactly."""
    for seed in range(5):
        g = random_mlp([12, 9, 7, 3], seed=seed, w_bits=5 + seed % 3)
        rows = {(b.layer, b.what): b for b in prove(g)}
        prev = g.layers[0]
        for lay in g.layers[1:]:
            if isinstance(lay, Dense):
                frac, _, _, flo, fhi = dense_bounds(lay, prev.out_type, prev.out_range)
                acc = rows[(lay.name, "accumulator")]
                scale = 1 << (lay.accum.frac - frac)
                assert (acc.lo, acc.hi) == (int(np.min(flo)) * scale, int(np.max(fhi)) * scale)
                assert acc.status == "fits"
            prev = lay


@pytest.mark.tools
def test_design_check_names_the_overflowing_type(tmp_path: Path) -> None:
    flow = prepare(tmp_path, narrow_graph(), "narrow")
    types_h = (tmp_path / "narrow" / "hls" / "firmware" / "types.h").read_text().splitlines()
    acc_line = next(i + 1 for i, ln in enumerate(types_h) if ln.endswith(" dense0_acc_t;"))
    out_line = next(i + 1 for i, ln in enumerate(types_h) if ln.endswith(" result_t;"))
    with pytest.raises(CheckFailed) as err:
        execute(DesignCheckStep(), flow, build=tmp_path)
    assert f"accumulator-overflow: firmware/types.h:{acc_line}: layer 'dense0'" in str(err.value)
    assert f"wrap-overflow: firmware/types.h:{out_line}: layer 'dense1'" in str(err.value)


def test_missing_analyzer_is_named_with_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = prepare(tmp_path, random_mlp([4, 3], seed=0), "nocheck")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match="cppcheck.*apt-get install cppcheck"):
        execute(DesignCheckStep(), flow, build=tmp_path)


def all_kernels_graph() -> Graph:
    """One DAG that instantiates every kernel of hls_src/asicflow (with rtl.weights=ports,
    dense_reuse instead of dense_sparse): conv + depthwise with 'same' padding, add, max and
    avg pooling, concat, scale/shift, flatten, dense, steps; conv0 and dense0 at reuse 2."""
    b = Builder("all_kernels", (6, 6, 2), seed=31)
    b.conv("conv0", 3, (3, 3), (1, 1), "same")
    b.act("relu0")
    b.conv("dw0", 0, (3, 3), (1, 1), "same", depthwise=True)
    b.add("add0", ["relu0", "dw0"])
    b.pool("max0", "max", (2, 2))
    b.pool("avg0", "avg", (2, 2), (2, 2), "same", inputs=["relu0"])
    b.concat("cat0", ["max0", "avg0"])
    b.scale("bn0")
    b.reshape("flatten")
    b.dense("dense0", 7)
    b.steps("tern0", [-0.5, 0.5], [-1.0, 0.0, 1.0], FixedType(2, 2, True))
    b.dense("dense1", 3)
    b.dense("dense2", 3, inputs=["dense1"])
    g = b.build()
    for lay in g.layers:
        if lay.name in ("conv0", "dense0"):
            lay.reuse = 2  # type: ignore[attr-defined]
    return g


@pytest.mark.tools
@pytest.mark.parametrize("weights", ["const", "ports"])
def test_design_check_passes_on_every_kernel(tmp_path: Path, weights: str) -> None:
    graph = all_kernels_graph()
    graph.save(tmp_path / "kernels" / "convert")
    write_stimuli(graph, random_inputs(graph, 20), tmp_path / "kernels" / "golden")
    flow = dataclasses.replace(
        FlowConfig(model=Path("unused.h5"), name="kernels"), rtl=RtlConfig(weights=weights)
    )
    execute(HlsStep(), flow, build=tmp_path)
    m = execute(DesignCheckStep(), flow, build=tmp_path)
    assert m["design_check__violations"] == 0
    code = (tmp_path / "kernels" / "hls" / "firmware" / "kernels.cpp").read_text()
    used = set(re.findall(r"asicflow::(\w+)<", code))
    assert used == set(KERNEL_HEADERS) - {"dense_sparse" if weights == "ports" else "dense_reuse"}
