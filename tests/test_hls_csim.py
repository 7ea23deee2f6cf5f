"""HLS C++ generation and C simulation: real g++ runs, compared bit for bit with golden."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from graphs import Builder, example_graphs, layer_zoo, random_inputs, random_mlp, zoo_inputs

from asicflow import golden
from asicflow.config import FlowConfig, HlsConfig, RtlConfig
from asicflow.errors import AsicflowError, CheckFailed, ToolMissing, UnsupportedModel
from asicflow.fixed import FixedType
from asicflow.hls import (
    ac_include_dir,
    compile_argv,
    loops,
    read_project,
    read_trace,
    write_params,
    write_project,
)
from asicflow.hls.writer import literal
from asicflow.ir import Activation, Conv, Dense, Graph, Input, Layer, param_arrays
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


# ---------------------------------------------------------------------------------------------
# Model breadth: every layer kind, DAGs, reuse factor, weights as inputs. The graphs are
# compiled straight with g++ (two at a time) into traced testbenches, so every layer of every
# stimulus is compared with the golden model, not only the outputs.

CXXFLAGS = ["-O1", "-std=c++17"]
STIMULI = 1000


def build_tb(folder: Path, top: str, trace: bool = True) -> Path:
    """Compile the project in ``folder`` (written by write_project) into ``folder/tb``."""
    binary = folder / "tb.bin"
    argv = compile_argv(
        "g++",
        CXXFLAGS,
        [folder / "firmware", ac_include_dir()],
        [folder / "tb" / "tb.cpp", folder / "firmware" / f"{top}.cpp"],
        binary,
        ("ASICFLOW_TRACE",) if trace else (),
    )
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return binary


def build_all(jobs: list[tuple[Path, str]]) -> list[Path]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: build_tb(*job), jobs))


def run_tb(
    binary: Path, graph: Graph, x: np.ndarray, params: Path | None = None
) -> dict[str, np.ndarray]:
    """Every layer's raw outputs (the trace) plus the output file's rows under 'y'."""
    folder = binary.parent / f"run_{binary.stem}_{params.stem if params else 'const'}"
    folder.mkdir(exist_ok=True)
    np.savetxt(folder / "inputs.txt", x, fmt="%d")
    argv = [str(binary), *([str(params)] if params else [])]
    argv += [str(folder / "inputs.txt"), str(folder / "outputs.txt"), str(folder / "trace.txt")]
    done = subprocess.run([*argv, "0", str(len(x))], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = read_trace(folder / "trace.txt", graph, 0, len(x))
    out["y"] = read_text_matrix(folder / "outputs.txt", graph.output.size)
    return out


def assert_every_layer_exact(name: str, graph: Graph, x: np.ndarray, got: dict) -> None:
    want = golden.run(graph, x)
    assert set(got) == {lay.name for lay in graph.layers} | {"y"}, name
    where = golden.first_divergence(graph, want, got)
    assert where is None, f"{name}: {where}"
    np.testing.assert_array_equal(got["y"], want[graph.output.name], err_msg=name)


def with_reuse(graph: Graph, r: int) -> Graph:
    g = copy.deepcopy(graph)
    for lay in g.layers:
        if isinstance(lay, Dense | Conv):
            lay.reuse = r
    return g


def reuse_graph(reprogrammable: bool = False) -> Graph:
    """Conv (stride 2, 'same' on odd sizes) -> ReLU -> depthwise -> flatten -> dense -> ReLU
    -> scale/shift -> dense: every kind with parameter arrays, sizes no reuse factor divides."""
    b = Builder("reuse", (7, 5, 2), seed=21)
    b.conv("conv0", 3, (3, 3), (2, 2), "same")
    b.act("relu0")
    b.conv("dw0", 0, (2, 2), (1, 1), "same", depthwise=True)
    b.reshape("flatten")
    b.dense("dense0", 11)
    b.act("relu1")
    b.scale("bn0")
    b.dense("dense1", 5)
    return b.build(reprogrammable)


@pytest.mark.tools
def test_layer_zoo_is_bit_exact_on_every_layer(tmp_path: Path) -> None:
    zoo = layer_zoo()
    assert {lay.kind for _, g in zoo for lay in g.layers} >= {
        "conv", "pool", "reshape", "scale", "add", "concat", "steps", "dense", "activation"
    }  # fmt: skip
    for name, graph in zoo:
        write_project(graph, name, tmp_path / name)
    binaries = build_all([(tmp_path / name, name) for name, _ in zoo])
    for (name, graph), binary in zip(zoo, binaries, strict=True):
        x = zoo_inputs(graph, STIMULI)
        assert_every_layer_exact(name, graph, x, run_tb(binary, graph, x))


@pytest.mark.tools
def test_reuse_factor_is_bit_exact_and_skips_zero_weights(tmp_path: Path) -> None:
    graph = reuse_graph()
    x = zoo_inputs(graph, STIMULI)
    jobs = []
    for r in (1, 2, 4, 8):
        for mode in ("const", "ports"):
            name = f"reuse{r}_{mode}"
            project = write_project(with_reuse(graph, r), name, tmp_path / name, weights=mode)
            assert project.ii == r
            jobs.append((tmp_path / name, name))
    for (folder, name), binary in zip(jobs, build_all(jobs), strict=True):
        r = int(name[5])
        params = folder / "tb" / "params.txt" if name.endswith("ports") else None
        assert_every_layer_exact(name, graph, x, run_tb(binary, with_reuse(graph, r), x, params))
        code = (folder / "firmware" / f"{name}.cpp").read_text()
        if r == 1:
            assert "dense<" in code and "conv2d<" in code and "_reuse<" not in code
            continue
        assert f"#pragma hls_pipeline_init_interval {r}\n" in code
        assert code.count("conv2d_reuse<") == 2
        if params:
            assert code.count("dense_reuse<") == 2 and "dense_sparse" not in code
        else:  # constant weights: only the nonzero ones, padded to a multiple of R
            for lay in ("dense0", "dense1"):
                nnz = graph.layer(lay).nonzero_weights  # type: ignore[attr-defined]
                assert nnz < graph.layer(lay).weights.size  # type: ignore[attr-defined]
                padded = -(-nnz // r) * r
                assert f", {padded}, {r}, {padded // r}>(" in code
                weights_h = (folder / "firmware" / "weights.h").read_text()
                assert f"{lay}_nz_w[{padded}]" in weights_h


@pytest.mark.tools
def test_weights_as_inputs_run_a_second_weight_set(tmp_path: Path) -> None:
    graph = reuse_graph(reprogrammable=True)
    name = "ports_net"
    flow = prepare(tmp_path, graph, name)
    flow = dataclasses.replace(flow, rtl=RtlConfig(weights="ports"))
    metrics = hls_and_csim(tmp_path, flow)
    assert_matches_golden(tmp_path, flow, metrics)

    hls = tmp_path / name / "hls"
    header = (hls / "firmware" / f"{name}.h").read_text()
    signature = re.sub(r"\s+", " ", header[header.index(f"void {name}(") :].split(";")[0])
    args = ", ".join(
        f"const {a.layer}_{SUFFIX[a.name]}_t {a.layer}_{SUFFIX[a.name]}[{a.count}]"
        for a in param_arrays(graph)
    )
    assert signature == f"void {name}(const input_t x[N_IN], result_t y[N_OUT], {args})"
    project = read_project(hls)
    assert project["weights"] == "ports" and project["params_file"] == "tb/params.txt"
    assert [(p["layer"], p["name"]) for p in project["params"]] == [
        (a.layer, a.name) for a in param_arrays(graph)
    ]
    assert "conv0_w[" not in (hls / "firmware" / "weights.h").read_text()

    # The csim binary, unchanged, with the weights of another "training run".
    second = copy.deepcopy(graph)
    rng = np.random.default_rng(99)
    for lay in second.layers:
        for key, arr in lay.arrays().items():
            t = lay.array_type(key)
            setattr(lay, key, rng.integers(t.raw_min, t.raw_max + 1, arr.shape))
    write_params(second, tmp_path / "second.txt")
    binary = tmp_path / name / "csim" / "csim"
    x = load_stimuli(tmp_path / name / "golden")["x"]
    out = tmp_path / "second_out.txt"
    subprocess.run(
        [str(binary), str(tmp_path / "second.txt"), str(tmp_path / name / "golden" / "inputs.txt"),
         str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    y2 = read_text_matrix(out, graph.output.size)
    np.testing.assert_array_equal(y2, golden.run(second, x)[second.output.name])
    y1 = load_stimuli(tmp_path / name / "golden")["y"]
    assert (y2 != y1).any(axis=1).mean() > 0.5  # really other weights

    # A parameter file that does not fit the types or the arrays is refused.
    bad = tmp_path / "bad.txt"
    bad.write_text((tmp_path / "second.txt").read_text() + "7\n")
    run = subprocess.run(
        [str(binary), str(bad), str(tmp_path / name / "golden" / "inputs.txt"), str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "more values" in run.stderr


SUFFIX = {"weights": "w", "bias": "b", "scale": "s"}


@pytest.mark.tools
def test_csim_names_first_diverging_layer_of_a_dag(tmp_path: Path) -> None:
    """A weight changed in the generated C++ of a concat skip connection is found in
    conv1 (after the concat), at the first stimulus and index the change shows in."""
    graph = dict(layer_zoo())["concat_conv"]
    flow = prepare(tmp_path, graph, "dag", n=300)
    execute(HlsStep(), flow, build=tmp_path)
    weights_h = tmp_path / "dag" / "hls" / "firmware" / "weights.h"
    text = weights_h.read_text()
    conv1 = graph.layer("conv1")
    assert isinstance(conv1, Conv)
    flat = conv1.weights.reshape(-1)
    k = int(np.flatnonzero(flat)[3])
    start = text.index("conv1_w[")
    body = text[start : text.index("};", start)]
    values = re.findall(r"-?\d+\.\d+", body.split("\n", 1)[1])
    assert len(values) == flat.size
    new = -flat[k] - 1 if -flat[k] - 1 >= conv1.weight_type.raw_min else 0
    values[k] = literal(int(new), conv1.weight_type)
    rows = ",\n    ".join(", ".join(values[i : i + 2]) for i in range(0, len(values), 2))
    weights_h.write_text(text.replace(body, body.split("\n", 1)[0] + "\n    " + rows + ",\n"))
    with pytest.raises(CheckFailed) as info:
        execute(CsimStep(), flow, build=tmp_path)

    changed = copy.deepcopy(graph)
    changed.layer("conv1").weights.reshape(-1)[k] = new  # type: ignore[attr-defined]
    x = load_stimuli(tmp_path / "dag" / "golden")["x"]
    want = golden.first_divergence(graph, golden.run(graph, x), golden.run(changed, x))
    assert want is not None and want.startswith("layer 'conv1'")
    prefix = want.split(": expected")[0]
    assert prefix in str(info.value)


def test_unsupported_layers_are_named(tmp_path: Path) -> None:
    b = Builder("bad_avg", (5, 5, 1))
    b.pool("pool0", "avg", (3, 3), (2, 2), "valid")
    b.reshape("flatten")
    graph = Graph("bad_avg", b.layers)
    graph.layers[1].in_type = graph.input.out_type  # type: ignore[attr-defined]
    graph.layers[1].out_type = graph.input.out_type
    graph.layers[2].out_type = graph.input.out_type
    with pytest.raises(UnsupportedModel, match="pool0.*not a power of two"):
        write_project(graph, "bad_avg", tmp_path)
    with pytest.raises(AsicflowError, match="weights='rom'"):
        write_project(random_mlp([4, 3]), "m", tmp_path, weights="rom")


def test_loops_follow_kernels_and_name_catapult_repeats() -> None:
    graph = with_reuse(reuse_graph(), 2)
    found = loops(graph)
    by_path = {d["loop"]: d for d in found}
    assert by_path["CONV_R_ROUND"]["pipelined"] and by_path["CONV_R_ROUND#1"]["pipelined"]
    assert by_path["DENSE_S_ROUND"]["layer"] == "dense0 (dense_s_round)"
    assert "CONV_R_ROUND/CONV_R_POS/CONV_FILTER/CONV_KH/CONV_KW/CONV_CH" in by_path
    assert "PAD_ROW#1/PAD_COL#1/PAD_CH#1" in by_path
    assert sum(d["pipelined"] for d in found) == 4
