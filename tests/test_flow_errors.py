"""Bad input through the real CLI: one readable message, non-zero exit, no traceback, and the
previous good results of that step and of other flows untouched."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp" / "digits_mlp.h5"


def cli(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ASICFLOW_BUILD": str(tmp / "build"), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "asicflow", "run", *args],
        cwd=tmp,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def flow(tmp: Path, name: str, body: str) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(body)
    return p


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


GOOD = f"model: {DIGITS}\ndata: {{count: 50}}\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two flows converted successfully: 'f' (the one we break) and 'other'."""
    tmp = tmp_path_factory.mktemp("errors")
    for name in ("f", "other"):
        r = cli(tmp, str(flow(tmp, name, GOOD)), "--to", "golden")
        assert r.returncode == 0, r.stdout + r.stderr
    return tmp


def check_failed(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    text = r.stdout + r.stderr
    assert r.returncode != 0, text
    for n in needles:
        assert n in text, f"{n!r} not in:\n{text}"
    assert "Traceback" not in text, text
    return text


def test_malformed_yaml(built: Path) -> None:
    before = snapshot(built / "build")
    r = cli(built, str(flow(built, "f", GOOD + "data: [1, 2\n")), "--to", "golden")
    check_failed(r, "malformed YAML at line")
    assert snapshot(built / "build") == before


def test_unknown_key_suggests(built: Path) -> None:
    before = snapshot(built / "build")
    r = cli(built, str(flow(built, "f", GOOD + "clock_period: 5\n")), "--to", "golden")
    check_failed(r, "unknown key 'clock_period'; did you mean 'clock_period_ns'?")
    assert snapshot(built / "build") == before


def test_missing_model_file(built: Path) -> None:
    before = snapshot(built / "build")
    r = cli(built, str(flow(built, "f", "model: nowhere.h5\n")), "--to", "golden")
    check_failed(r, "file not found", "nowhere.h5")
    assert snapshot(built / "build") == before


def test_debug_shows_traceback(built: Path) -> None:
    r = cli(built, str(flow(built, "f", "model: nowhere.h5\n")), "--to", "golden", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_missing_data_file(built: Path) -> None:
    r = cli(
        built,
        str(flow(built, "f", f"model: {DIGITS}\ndata: {{source: npz, npz: no.npz}}\n")),
        "--to",
        "golden",
    )
    check_failed(r, "'data.npz': file not found", "no.npz")


def test_unsupported_layer_keeps_previous_results(built: Path) -> None:
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits

    model = tf.keras.Sequential(
        [
            tf.keras.layers.Input((64,)),
            QActivation(quantized_bits(6, 0), name="q_in"),
            QDense(
                4,
                kernel_quantizer=quantized_bits(6, 0, alpha=1),
                bias_quantizer=quantized_bits(6, 0, alpha=1),
                name="fc",
            ),
            tf.keras.layers.LayerNormalization(name="norm"),
        ]
    )
    bad = built / "bad.h5"
    model.save(bad)
    before = snapshot(built / "build" / "f" / "convert")
    other = snapshot(built / "build" / "other")
    r = cli(built, str(flow(built, "f", f"model: {bad}\ndata: {{count: 50}}\n")), "--to", "golden")
    check_failed(r, "layer 'norm' (LayerNormalization) is not supported", "Supported:")
    assert snapshot(built / "build" / "f" / "convert") == before
    assert snapshot(built / "build" / "other") == other
    assert (built / "build" / "f" / "convert.failed" / "log.txt").exists()


def test_too_many_stimuli(built: Path) -> None:
    r = cli(
        built, str(flow(built, "f", f"model: {DIGITS}\ndata: {{count: 5000}}\n")), "--to", "convert"
    )
    check_failed(r, "'data.count' is 5000", "has only 1797 samples")


@pytest.mark.tools
def test_missing_tool_named(built: Path) -> None:
    before = snapshot(built / "build")
    r = cli(built, str(flow(built, "f", GOOD + "hls: {cxx: no-such-cxx}\n")), "--to", "csim")
    check_failed(r, "tool missing", "no-such-cxx")
    after = snapshot(built / "build")
    assert {k: v for k, v in after.items() if k.startswith("other/")} == {
        k: v for k, v in before.items() if k.startswith("other/")
    }
    assert not (built / "build" / "f" / "csim").exists()


@pytest.mark.tools
def test_missing_pdk_file_named(built: Path) -> None:
    empty = built / "empty_pdk"
    empty.mkdir(exist_ok=True)
    r = cli(built, str(flow(built, "f", GOOD + f"pdk_root: {empty}\n")), "--to", "synth")
    text = check_failed(r, "sky130_fd_sc_hd__tt_025C_1v80.lib")
    assert str(empty) in text
    assert not (built / "build" / "f" / "synth").exists()


@pytest.mark.parametrize("backend", ["catapult", "bambu"])
def test_hls_tool_backend_without_the_tool(built: Path, backend: str) -> None:
    """No Catapult/Bambu here: rtl stops naming the tool and how to point asicflow at it."""
    other = snapshot(built / "build" / "other")
    env = {
        "PATH": os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / backend).exists()
        )
    }
    r = cli(
        built,
        str(flow(built, "f", GOOD + f"hls: {{backend: {backend}}}\n")),
        "--to",
        "rtl",
        env=env,
    )
    check_failed(r, "tool missing", f"'{backend}'", f"hls.{backend}_path")
    assert snapshot(built / "build" / "other") == other
    assert (built / "build" / "f" / "rtl.failed").is_dir()
