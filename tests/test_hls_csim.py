"""HLS C++ generation and C simulation: real g++ runs, compared bit for bit with golden."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from graphs import example_graphs, random_inputs, random_mlp

from asicflow.config import FlowConfig, HlsConfig
from asicflow.errors import AsicflowError, CheckFailed, ToolMissing
from asicflow.fixed import FixedType
from asicflow.hls import ac_include_dir, write_project
from asicflow.hls.writer import literal
from asicflow.ir import Activation, Dense, Graph, Input, Layer
from asicflow.precision import Override, infer
from asicflow.steps.base import execute
from asicflow.steps.csim import CsimStep
from asicflow.steps.hls import HlsStep
from asicflow.stimuli import load_stimuli, read_text_matrix, write_stimuli


def prepare(build: Path, graph: Graph, name: str, n: int = 1000) -> FlowConfig:
    """What the convert and golden steps would leave in ``build/<name>``."""
    graph.save(build / name / "convert")
    write_stimuli(graph, random_inputs(graph, n), build / name / "golden")
    return FlowConfig(model=Path("unused.h5"), name=name)


def hls_and_csim(build: Path, flow: FlowConfig) -> dict[str, object]:
    execute(HlsStep(), flow, build=build)
    return execute(CsimStep(), flow, build=build)


def assert_matches_golden(
    build: Path, flow: FlowConfig, metrics: dict[str, object], n: int = 1000
) -> None:
    assert metrics["csim__vectors"] == n
    assert metrics["csim__mismatches"] == 0
    golden = load_stimuli(build / flow.name / "golden")
    out = read_text_matrix(build / flow.name / "csim" / "outputs.txt", golden["y"].shape[1])
    np.testing.assert_array_equal(out, golden["y"])


@pytest.mark.tools
@pytest.mark.parametrize(
    "name, graph",
    example_graphs(),
)
def test_csim_is_bit_exact(tmp_path: Path, name: str, graph: Graph) -> None:
    flow = prepare(tmp_path, graph, name)
    metrics = hls_and_csim(tmp_path, flow)
    assert_matches_golden(tmp_path, flow, metrics)
    assert (tmp_path / name / "hls" / "firmware" / f"{name}.cpp").is_file()
    config = json.loads((tmp_path / name / "csim" / "config.json").read_text())
    assert "g++" in config["versions"]["cxx"]
    assert config["config"] == {
        "hls.ac_include": None,
        "hls.cxx": "g++",
        "hls.cxxflags": ["-O2", "-std=c++17"],
    }


def rounding_graph() -> Graph:
    """Accumulators that drop product bits, results that saturate, rounding quantizers."""
    rng = np.random.default_rng(7)
    w_t = FixedType(6, 1)
    layers: list[Layer] = [
        Input("input", "input", 12, FixedType(8, 1, True, "RND_CONV", "SAT")),
        Activation("in_q", "in_q", 12, FixedType(6, 1, True, "RND_INF", "SAT_SYM")),
    ]
    for k, (n_in, n_out) in enumerate(itertools.pairwise([12, 10, 8, 6, 4])):
        layers.append(
            Dense(
                f"dense{k}",
                f"dense{k}",
                n_out,
                FixedType(1, 1),
                n_in=n_in,
                weight_type=w_t,
                bias_type=FixedType(10, 2),
                weights=rng.integers(-32, 32, (n_in, n_out)),
                bias=rng.integers(-512, 512, n_out),
            )
        )
        if k == 1:
            layers.append(
                Activation("relu1", "relu1", n_out, FixedType(5, 2, False, "RND", "SAT"), relu=True)
            )
    layers.append(Activation("out_q", "out_q", 4, FixedType(3, 1, True, "RND_CONV", "SAT")))
    graph = Graph("rounding", layers)
    t = FixedType.parse
    infer(
        graph,
        {  # products have >= 12 fractional bits: every accumulator rounds them
            "dense0": Override(
                t("ac_fixed<14, 6, true, AC_RND_CONV>"),
                t("ac_fixed<6, 2, true, AC_RND_CONV, AC_SAT>"),
            ),
            "dense1": Override(
                t("ac_fixed<9, 3, true, AC_RND>"),
                t("ac_fixed<7, 2, true, AC_TRN_ZERO, AC_SAT_SYM>"),
            ),
            "dense2": Override(
                t("ac_fixed<12, 3, true, AC_RND_ZERO>"),
                t("ac_fixed<5, 1, true, AC_RND_INF, AC_SAT_ZERO>"),
            ),
            "dense3": Override(
                t("ac_fixed<12, 4, true, AC_RND_MIN_INF>"),
                t("ac_fixed<6, 2, true, AC_TRN, AC_WRAP>"),
            ),
        },
    )
    return graph


@pytest.mark.tools
def test_csim_rounding_and_saturation_agree(tmp_path: Path) -> None:
    graph = rounding_graph()
    flow = prepare(tmp_path, graph, "rounding")
    golden = load_stimuli(tmp_path / "rounding" / "golden")
    for name in ("in_q", "dense0", "dense1", "out_q"):  # only proves something if modes act
        t = graph.layer(name).out_type
        assert np.isin(golden[f"layer.{name}"], [t.raw_min, t.raw_max, -t.raw_max]).any()
    assert_matches_golden(tmp_path, flow, hls_and_csim(tmp_path, flow))


@pytest.mark.tools
def test_csim_mismatch_names_layer_and_keeps_good_result(tmp_path: Path) -> None:
    graph = random_mlp([16, 8, 4], seed=5, sparsity=0.0)
    flow = prepare(tmp_path, graph, "broken_mlp", n=200)
    hls_and_csim(tmp_path, flow)
    good = tmp_path / "broken_mlp" / "csim"
    good_metrics = (good / "metrics.json").read_text()

    # The C++ now gets one different weight; the golden outputs stay those of the original.
    corrupted = Graph.load(tmp_path / "broken_mlp" / "convert")
    dense0 = corrupted.layer("dense0")
    assert isinstance(dense0, Dense)
    i, j = 3, 2
    dense0.weights[i, j] = -dense0.weights[i, j] - 1
    corrupted.save(tmp_path / "broken_mlp" / "convert")
    execute(HlsStep(), flow, build=tmp_path)
    with pytest.raises(CheckFailed) as info:
        execute(CsimStep(), flow, build=tmp_path)

    x = load_stimuli(tmp_path / "broken_mlp" / "golden")["x"]
    first = int(np.flatnonzero(x[:, i] != 0)[0])
    message = str(info.value)
    assert "vectors differ from the golden model" in message
    assert f"layer 'dense0' (from Keras 'dense0'), stimulus {first}, index {j}:" in message
    assert (good / "metrics.json").read_text() == good_metrics
    assert (tmp_path / "broken_mlp" / "csim.failed" / "trace.txt").is_file()


@pytest.mark.tools
def test_csim_reports_corrupt_golden_outputs(tmp_path: Path) -> None:
    graph = random_mlp([8, 4, 3], seed=2)
    flow = prepare(tmp_path, graph, "tiny_mlp", n=50)
    outputs = tmp_path / "tiny_mlp" / "golden" / "outputs.txt"
    y = read_text_matrix(outputs, 3)
    y[7, 1] += 1
    np.savetxt(outputs, y, fmt="%d")
    with pytest.raises(
        CheckFailed,
        match=r"1 of 50 vectors differ.*stimulus 7, output 1" r"(.|\n)*every layer matches",
    ):
        hls_and_csim(tmp_path, flow)
    assert not (tmp_path / "tiny_mlp" / "csim").exists()


def test_missing_compiler_is_tool_missing(tmp_path: Path) -> None:
    flow = prepare(tmp_path, random_mlp([4, 3]), "nocxx", n=5)
    flow = dataclasses.replace(flow, hls=HlsConfig(cxx="no-such-cxx-asicflow"))
    execute(HlsStep(), flow, build=tmp_path)
    with pytest.raises(ToolMissing, match="hls.cxx"):
        execute(CsimStep(), flow, build=tmp_path)


def test_ac_include_lookup(tmp_path: Path) -> None:
    assert (ac_include_dir() / "ac_fixed.h").is_file()
    with pytest.raises(AsicflowError, match="hls.ac_include"):
        ac_include_dir(tmp_path)
    (tmp_path / "ac_fixed.h").write_text("")
    assert ac_include_dir(tmp_path) == tmp_path


@pytest.mark.parametrize(
    "raw, t, text",
    [
        (-3, FixedType(6, 1), "-0.09375"),
        (31, FixedType(6, 1), "0.96875"),
        (0, FixedType(6, 1), "0.0"),
        (5, FixedType(4, 6), "20.0"),
        (-7, FixedType(4, 70), "-516508834063867445248.0"),
        (-(2**52), FixedType(53, 3), "-4.0"),
        (1, FixedType(37, 2), "0.00000000002910383045673370361328125"),
    ],
)
def test_weight_literals_are_exact(raw: int, t: FixedType, text: str) -> None:
    assert literal(raw, t) == text


def test_bad_names_are_rejected(tmp_path: Path) -> None:
    graph = random_mlp([4, 3, 2])
    for top in ("main", "9lives", "digits-mlp", "int"):
        with pytest.raises(AsicflowError, match="flow name"):
            write_project(graph, top, tmp_path)
    graph.layers[1].name = "in"  # N_IN is the top's input size
    with pytest.raises(AsicflowError, match="N_IN"):
        write_project(graph, "ok_name", tmp_path)
