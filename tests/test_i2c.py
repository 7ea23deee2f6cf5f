"""I2C weight loading: register map, option checks, and the wrapped network on a real bus model.

The cocotb runs use cocotbext-i2c's I2cMaster against the generated I2C target (Verilator),
load two different weight sets into one running design, read them back and stream stimuli
against the golden model. TMR around the wrapper, at RTL and at gate level, is
tests/test_hardening.py's tiny_mlp_hardened.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from designs import PDK_ROOT
from graphs import random_inputs, random_mlp

from asicflow.config import FlowConfig, I2cConfig, OptionsConfig, load_flow
from asicflow.errors import AsicflowError, CheckFailed, ConfigError
from asicflow.fixed import to_float
from asicflow.golden import run
from asicflow.i2c.program import write_program
from asicflow.i2c.regmap import RegisterMap, transactions
from asicflow.ir import Graph, param_arrays
from asicflow.precision import infer
from asicflow.rtl import generate
from asicflow.steps.base import execute
from asicflow.steps.i2c import RELOAD_DIR, I2cStep
from asicflow.steps.i2c_cosim import I2cCosimStep
from asicflow.stimuli import write_stimuli

PROJECT = Path(__file__).resolve().parent.parent
SIZES = [12, 6, 4]
VECTORS = 300


def _regmap(max_width: int = 16) -> tuple[Graph, RegisterMap]:
    g = random_mlp(SIZES, seed=5, w_bits=5)
    infer(g, reprogrammable=True)
    info = generate(g, "net", weights="ports").info
    return g, RegisterMap.from_rtl(info, 0x42, max_width)


def test_register_image_round_trips_and_packs_at_the_model_widths() -> None:
    g, rm = _regmap()
    arrays = {f"{p.layer}.{p.name}": p.values.reshape(p.shape) for p in param_arrays(g)}
    n_values = sum(a.size for a in arrays.values())
    assert rm.bits == 5 * n_values  # 5-bit weights and biases, no padding between them
    assert rm.nbytes == (rm.bits + 7) // 8
    image = rm.pack(arrays)
    back = rm.unpack(image)
    for k, a in arrays.items():
        np.testing.assert_array_equal(back[k], a)
    # element 1 of the first array sits at bits 5..9: bits 5-7 of byte 0, 0-1 of byte 1
    first = next(iter(arrays.values())).reshape(-1)
    assert ((image[0] >> 5) | (image[1] & 0b11) << 3) == first[1] & 0x1F
    writes = transactions(image, 7)
    assert [w.register for w in writes] == list(range(0, rm.nbytes, 7))
    assert b"".join(w.data for w in writes) == image
    assert "dense0.weights" in rm.table() and "0x42" in rm.table()


def test_weights_wider_than_the_register_map_allows_are_refused() -> None:
    with pytest.raises(AsicflowError) as err:
        _regmap(max_width=4)
    assert "dense0.weights is 5 bits wide" in str(err.value)
    assert "i2c.max_weight_bits" in str(err.value)
    g, rm = _regmap()
    arrays = {f"{p.layer}.{p.name}": p.values for p in param_arrays(g)}
    arrays["dense1.bias"] = arrays["dense1.bias"] + 100
    with pytest.raises(AsicflowError, match="dense1.bias"):
        rm.pack(arrays)


def test_malformed_i2c_options_are_all_reported_at_load(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(
        f"model: {PROJECT}/examples/digits_mlp/digits_mlp.h5\n"
        "i2c: {address: 0x05, max_weight_bits: 0, write_chunk: 1000, "
        f"reload_model: {PROJECT}/examples/digits_mlp/digits_mlp_run2.h5}}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_flow(f)
    text = str(err.value)
    for part in (
        "'i2c.address' 0x05",
        "i2c.max_weight_bits",
        "i2c.write_chunk",
        "'i2c.reload_model' is set but 'options.i2c_weights' is off",
    ):
        assert part in text, (part, text)
    f.write_text(f"model: {PROJECT}/examples/digits_mlp/digits_mlp.h5\ni2c: {{speed_hz: 250000}}\n")
    with pytest.raises(ConfigError, match="'i2c.speed_hz' is 250000; choose one of 100000"):
        load_flow(f)
    # 10 system clocks per SCL period at least: 10 ns allows 10 MHz, not 12.5 MHz (a rule of
    # the I2C target: a flow without it may set any clock)
    for hz, ok, i2c in (
        (10_000_000, True, True),
        (12_500_000, False, True),
        (12_500_000, True, False),
    ):
        f.write_text(
            f"model: {PROJECT}/examples/digits_mlp/digits_mlp.h5\nclock_period_ns: 10.0\n"
            f"sim: {{gl_i2c_speed_hz: {hz}}}\noptions: {{i2c_weights: {str(i2c).lower()}}}\n"
        )
        if ok:
            assert load_flow(f).sim.gl_i2c_speed_hz == hz
        else:
            with pytest.raises(ConfigError, match="at least 10x SCL .* allows up to 10000000 Hz"):
                load_flow(f)


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FlowConfig, Graph]:
    """convert + golden results of a small MLP, then the i2c step with a second weight set."""
    build = tmp_path_factory.mktemp("build")
    graph = random_mlp(SIZES, seed=5, w_bits=5)
    infer(graph, reprogrammable=True)  # what convert does with options.i2c_weights
    name = "i2cnet"
    graph.save(build / name / "convert")
    write_stimuli(graph, random_inputs(graph, VECTORS), build / name / "golden")
    flow = FlowConfig(model=Path("unused.h5"), name=name, pdk_root=PDK_ROOT)
    flow = dataclasses.replace(
        flow, options=OptionsConfig(i2c_weights=True), i2c=I2cConfig(address=0x3A, write_chunk=16)
    )
    metrics = execute(I2cStep(), flow, build=build)
    assert metrics["i2c__address"] == "0x3a"
    # A second "training run": other random weights of the same types, through the helper.
    i2c_dir = build / name / "i2c"
    other = random_mlp(SIZES, seed=6, w_bits=5)
    regmap = RegisterMap.load(i2c_dir / "regmap.json")
    arrays = {
        f.key: p.values.reshape(f.shape)
        for f, p in zip(regmap.fields, param_arrays(other), strict=True)
    }
    write_program(regmap, arrays, 16, i2c_dir / RELOAD_DIR)
    # This graph has no Keras model: its own golden trace stands in for QKeras's outputs
    # (the QKeras check of a real second training run: tests/test_hardening.py).
    with np.load(build / name / "golden" / "stimuli.npz") as stim:
        x = stim["x"]
    g2 = graph.with_params(arrays)  # what i2c_cosim builds from reload/params.npz
    trace = run(g2, x)
    refs = {f"qkeras.{lay.name}": to_float(trace[lay.name], lay.out_type) for lay in g2.layers}
    with (i2c_dir / RELOAD_DIR / "reference.npz").open("wb") as fh:
        np.savez(fh, x=x, **refs)
    flow = dataclasses.replace(flow, i2c=dataclasses.replace(flow.i2c, reload_model=Path("x.h5")))
    return build, flow, other


def _result(build: Path, flow: FlowConfig) -> dict[str, Any]:
    return dict(json.loads((build / flow.name / "i2c_cosim" / "result.json").read_text()))


@pytest.mark.tools
def test_two_weight_sets_load_over_i2c_and_match_golden(
    wrapped: tuple[Path, FlowConfig, Graph],
) -> None:
    build, flow, _ = wrapped
    metrics = execute(I2cCosimStep(), flow, build=build)
    assert metrics["i2c_cosim__model_mismatches"] == 0
    assert metrics["i2c_cosim__reload_model_mismatches"] == 0
    res = _result(build, flow)
    assert res["ack_on_address"] and res["nack_on_other_address"]
    assert [s["vectors"] for s in res["sets"]] == [VECTORS, VECTORS]
    assert res["standard_mode"]["errors"] == 0 and res["standard_mode"]["bytes"] > 0


@pytest.mark.tools
def test_a_wrong_byte_on_the_bus_is_caught(wrapped: tuple[Path, FlowConfig, Graph]) -> None:
    build, flow, _ = wrapped
    flow = dataclasses.replace(flow, name=flow.name, options=OptionsConfig(i2c_weights=True))
    writes = build / flow.name / "i2c" / "writes.json"
    good = writes.read_text()
    data = json.loads(good)
    data["transactions"][0]["data"][0] ^= 0x10  # one weight bit differs from the golden model
    writes.write_text(json.dumps(data))
    try:
        with pytest.raises(CheckFailed, match="model: [0-9]+ mismatches, stimulus"):
            execute(I2cCosimStep(), flow, build=build)
    finally:
        writes.write_text(good)


def test_i2c_writes_cli_reprograms_from_a_retrained_model(tmp_path: Path) -> None:
    """convert + i2c of the hardened digits flow, then the user command on a second training
    run: its transactions carry that run's weights; another architecture is refused."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ASICFLOW_BUILD": str(tmp_path / "build")}
    flow = PROJECT / "flows" / "digits_mlp_hardened.yaml"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "asicflow", *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )

    done = cli("run", str(flow), "--to", "i2c")
    assert done.returncode == 0, done.stderr
    i2c_dir = tmp_path / "build" / "digits_mlp_hardened" / "i2c"
    regmap = RegisterMap.load(i2c_dir / "regmap.json")
    run2 = PROJECT / "examples" / "digits_mlp" / "digits_mlp_run2.h5"
    out = tmp_path / "run2"
    done = cli("i2c-writes", str(flow), str(run2), "--out", str(out))
    assert done.returncode == 0, done.stderr
    writes = json.loads((out / "writes.json").read_text())
    assert writes["address"] == 0x50
    image = b"".join(bytes(t["data"]) for t in writes["transactions"])
    loaded = regmap.unpack(image)
    first = regmap.unpack(
        b"".join(
            bytes(t["data"])
            for t in json.loads((i2c_dir / "writes.json").read_text())["transactions"]
        )
    )
    with np.load(out / "params.npz") as npz:
        for f in regmap.fields:
            np.testing.assert_array_equal(loaded[f.key], npz[f.key])
    assert any(not np.array_equal(loaded[k], first[k]) for k in first)
    jet = PROJECT / "examples" / "jet_mlp" / "jet_mlp.h5"
    bad = cli("i2c-writes", str(flow), str(jet), "--out", str(tmp_path / "jet"))
    assert bad.returncode == 1
    assert (
        "does not fit the I2C register map" in bad.stderr
        and "not the same architecture" in bad.stderr
    )
