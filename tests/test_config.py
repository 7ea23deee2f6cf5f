"""Flow YAML validation: every problem reported at once, readable, with suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest

from asicflow.config import FlowConfig, load_flow
from asicflow.errors import ConfigError
from asicflow.fixed import FixedType

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m.h5").write_bytes(b"")
    p = tmp_path / "f.yaml"
    p.write_text(text)
    return p


def test_example_flows_load() -> None:
    for f in sorted((ROOT / "flows").glob("*.yaml")):
        cfg = load_flow(f)
        assert cfg.name == f.stem
        assert cfg.model.exists()


def test_defaults_and_types(tmp_path: Path) -> None:
    cfg = load_flow(write(tmp_path, "model: m.h5\nclock_period_ns: 5\n"
                                    "input_type: ac_fixed<8, 2, true, AC_RND_CONV, AC_SAT>\n"
                                    "precision: {fc1: {accum: 'ac_fixed<20,8>'}}\n"))
    assert cfg.clock_period_ns == 5.0 and isinstance(cfg.clock_period_ns, float)
    assert cfg.input_type == FixedType(8, 2, True, "RND_CONV", "SAT")
    assert cfg.precision["fc1"].accum == FixedType(20, 8)
    assert cfg.model == tmp_path / "m.h5"
    assert cfg.data.count == 1000 and cfg.sim.simulator == "verilator"
    assert cfg.name == "f"


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    p = write(tmp_path, "model: missing.h5\nclok_period_ns: 5\ndata: {count: many, sorce: x}\n"
                        "sim: {simulator: modelsim}\ninput_type: ap_fixed<8,2>\n")
    with pytest.raises(ConfigError) as e:
        load_flow(p)
    msg = str(e.value)
    assert "file not found" in msg and "missing.h5" in msg
    assert "unknown key 'clok_period_ns'; did you mean 'clock_period_ns'?" in msg
    assert "unknown key 'data.sorce'; did you mean 'data.source'?" in msg
    assert "'data.count' must be int, got 'many'" in msg
    assert "'sim.simulator' is 'modelsim'; choose one of 'verilator', 'icarus'" in msg
    assert "cannot parse type 'ap_fixed<8,2>'" in msg
    assert len(e.value.problems) == 6


@pytest.mark.parametrize("text,needle", [
    ("model: m.h5\ndata: [1, 2\n", "malformed YAML at line"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("clock_period_ns: 10\n", "missing required key 'model'"),
    ("model: m.h5\nclock_period_ns: -1\n", "'clock_period_ns' must be positive"),
    ("model: m.h5\ndata: {source: npz}\n", "'data.npz' is required"),
])
def test_bad_files(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as e:
        load_flow(write(tmp_path, text))
    assert needle in str(e.value)


def test_get_dotted() -> None:
    cfg = FlowConfig(model=Path("m.h5"))
    assert cfg.get("data.count") == 1000
    assert cfg.get("hls.cxx") == "g++"
