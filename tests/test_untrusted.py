"""Untrusted flow and model files through the real CLI: no code from a model runs, nothing is
written outside build/<flow>/, no traceback, one message naming the problem and the fix, earlier
results untouched, one run per flow folder at a time, and no tool left running after kill -9."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from test_flow_errors import DIGITS, GOOD, check_failed, cli, flow, snapshot

ROOT = Path(__file__).resolve().parents[1]


def listing(folder: Path) -> set[str]:
    """Every path under ``folder`` except inside build/ (what a run may not touch)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "build" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Flow 'f' converted to golden: the earlier results bad inputs must leave alone."""
    tmp = tmp_path_factory.mktemp("untrusted")
    r = cli(tmp, str(flow(tmp, "f", GOOD)), "--to", "golden")
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp


# -- model files ---------------------------------------------------------------------------
def lambda_model(path: Path, marker: Path) -> None:
    """A model whose Lambda layer writes ``marker`` when it runs (as it does on loading)."""
    import tensorflow as tf

    fn = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Input((64,)),
            tf.keras.layers.Lambda(fn, name="lam"),
            tf.keras.layers.Dense(10, name="fc"),
        ]
    )
    model.save(path)
    marker.unlink(missing_ok=True)  # saving traced the function once


def test_lambda_model_runs_no_code(built: Path) -> None:
    marker = built / "lambda_ran.txt"
    model = built / "lam.h5"
    lambda_model(model, marker)
    before = snapshot(built / "build" / "f")
    files = listing(built)
    body = f"model: {model}\ninput_type: 'ac_fixed<8, 1, true>'\ndata: {{count: 50}}\nname: f\n"
    r = cli(built, str(flow(built, "lam", body)), "--to", "convert")
    text = check_failed(r, "holds Python code", "Lambda", "--trust-model-code")
    assert not marker.exists(), "the model's code ran while it was loaded"
    assert listing(built) == files | {"lam.yaml"}
    assert {
        k: v for k, v in snapshot(built / "build" / "f").items() if k.startswith("convert/")
    } == {k: v for k, v in before.items() if k.startswith("convert/")}
    assert text.count("holds Python code") == 1


def test_lambda_model_with_trust_opt_in_runs_its_code(built: Path) -> None:
    """The same file with the documented opt-in: its code does run (so the test above can
    fail), and the converter then names the unsupported layer."""
    marker = built / "lambda_ran2.txt"
    model = built / "lam2.h5"
    lambda_model(model, marker)
    body = f"model: {model}\ninput_type: 'ac_fixed<8, 1, true>'\ndata: {{count: 50}}\n"
    r = cli(built, str(flow(built, "lam2", body)), "--to", "convert", "--trust-model-code")
    check_failed(r, "layer 'lam' (Lambda) is not supported")
    assert marker.exists()


def test_unsupported_layer_named_before_missing_input_quantizer(built: Path) -> None:
    import tensorflow as tf

    model = tf.keras.Sequential(
        [tf.keras.layers.Input((8, 8)), tf.keras.layers.LSTM(4, name="lstm")]
    )
    path = built / "lstm.h5"
    model.save(path)
    r = cli(built, str(flow(built, "lstm", f"model: {path}\n")), "--to", "convert")
    text = check_failed(r, "layer 'lstm' (LSTM) is not supported", "Supported:")
    assert "input quantizer" not in text


def test_nan_in_the_data_is_named(built: Path) -> None:
    x = np.random.default_rng(0).uniform(0, 1, (60, 64)).astype(np.float32)
    x[7, 3] = np.nan
    x[9, 0] = np.inf
    npz = built / "nan.npz"
    np.savez(npz, x=x, y=np.zeros(60, np.int64))
    before = snapshot(built / "build" / "f" / "convert")
    body = f"model: {DIGITS}\nname: f\ndata: {{source: npz, npz: {npz}, count: 50}}\n"
    r = cli(built, str(flow(built, "nan", body)), "--to", "convert")
    check_failed(r, "2 values that are NaN or infinite", "sample 7", "replace or drop")
    assert snapshot(built / "build" / "f" / "convert") == before


# -- flow names ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "/tmp/asicflow_escape", "a/b", ".", "my-flow", "int"])
def test_flow_name_must_be_an_identifier(tmp_path: Path, name: str) -> None:
    victim = Path("/tmp/asicflow_escape")
    files = listing(tmp_path)
    r = cli(tmp_path, str(flow(tmp_path, "n", GOOD + f"name: '{name}'\n")), "--to", "convert")
    check_failed(r, "'name'", "plain identifier like 'digits_mlp'")
    assert listing(tmp_path) == files | {"n.yaml"}
    assert not (tmp_path / "build").exists() or not any((tmp_path / "build").iterdir())
    assert not victim.exists()


def test_default_flow_name_from_the_file_name(tmp_path: Path) -> None:
    r = cli(tmp_path, str(flow(tmp_path, "my-flow", GOOD)), "--to", "convert")
    check_failed(r, "the file name", "'my-flow'", "set 'name:' in the file or rename it")


# -- the flow file itself ------------------------------------------------------------------
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_yaml_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    assert len(BOMB) < 600  # 9**9 values when expanded
    start = time.monotonic()
    r = cli(tmp_path, str(flow(tmp_path, "bomb", GOOD + BOMB)), "--to", "convert")
    text = check_failed(r, "expands to more than 100000 values")
    assert time.monotonic() - start < 30
    assert len(text) < 2000


def test_huge_bad_value_is_echoed_short(tmp_path: Path) -> None:
    big = "[" + ", ".join(["123456789"] * 20000) + "]"
    body = GOOD + f"clock_period_ns: {big}\nsweep: {{reuse: '{'7' * 50000}'}}\n"
    r = cli(tmp_path, str(flow(tmp_path, "big", body)), "--to", "convert")
    text = check_failed(
        r, "'clock_period_ns' must be float, got <a list of 20000 items>", "'sweep.reuse'"
    )
    assert len(text) < 2000


def test_many_problems_are_cut(tmp_path: Path) -> None:
    body = GOOD + "".join(f"bad_key_{i}: 1\n" for i in range(200))
    r = cli(tmp_path, str(flow(tmp_path, "many", body)), "--to", "convert")
    text = check_failed(r, "unknown key 'bad_key_0'", "and 150 more problems")
    assert "bad_key_60" not in text
    assert len(text) < 50 * 600


def test_recursive_alias(tmp_path: Path) -> None:
    r = cli(tmp_path, str(flow(tmp_path, "rec", GOOD + "sweep: &s {reuse: *s}\n")), "--to", "hls")
    check_failed(r, "alias refers to itself")


def test_non_utf8_flow_file(tmp_path: Path) -> None:
    p = tmp_path / "latin.yaml"
    p.write_bytes(GOOD.encode() + b"# caf\xe9\n")
    r = cli(tmp_path, str(p), "--to", "convert")
    check_failed(r, "not UTF-8 text", "save the file as UTF-8")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_numbers(tmp_path: Path, value: str) -> None:
    body = GOOD + f"clock_period_ns: {value}\n"
    r = cli(tmp_path, str(flow(tmp_path, "nf", body)), "--to", "convert")
    check_failed(r, "'clock_period_ns' must be a finite number")


def test_type_and_range_errors_listed_together(tmp_path: Path) -> None:
    body = f"model: {DIGITS}\ndata: {{count: 0, seed: abc}}\nrtl: {{reuse: 0}}\n"
    body += "sim: {simulator: 3}\n"
    r = cli(tmp_path, str(flow(tmp_path, "all", body)), "--to", "convert")
    check_failed(
        r,
        "'data.seed' must be int",
        "'sim.simulator' must be str",
        "'data.count' must be at least 1",
        "'rtl.reuse' is 0",
    )


# -- the build folder ----------------------------------------------------------------------
def test_build_is_a_regular_file(tmp_path: Path) -> None:
    f = tmp_path / "build"
    f.write_text("not a folder\n")
    r = cli(tmp_path, str(flow(tmp_path, "g", GOOD)), "--to", "convert")
    check_failed(r, "is not a folder (it is a file)", "ASICFLOW_BUILD")
    assert f.read_text() == "not a folder\n"


def test_build_is_a_regular_file_with_doit(tmp_path: Path) -> None:
    (tmp_path / "build").write_text("x\n")
    env = {
        **os.environ,
        "ASICFLOW_BUILD": str(tmp_path / "build"),
        "ASICFLOW_FLOWS": str(flow(tmp_path, "g", GOOD)),
    }
    r = subprocess.run(
        [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    check_failed(r, "is not a folder (it is a file)")


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """``folder`` unwritable for this user, root included: root ignores permission bits, so
    as root the folder is made immutable (chattr +i) or covered by a read-only tmpfs."""
    if os.geteuid() != 0:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        try:
            yield
        finally:
            folder.chmod(stat.S_IRWXU)
        return
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)]).returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)])
    if r.returncode != 0:
        pytest.fail("no way to make a folder unwritable for root here (chattr, mount)")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_read_only_build_folder(built: Path) -> None:
    before = snapshot(built / "build")
    with unwritable(built / "build"):
        r = cli(built, str(flow(built, "f", GOOD)), "--to", "hls")
    check_failed(r, "is not writable", "ASICFLOW_BUILD")
    assert "sqlite" not in (r.stdout + r.stderr).lower()
    assert snapshot(built / "build") == before


def test_read_only_flow_folder(built: Path) -> None:
    before = snapshot(built / "build" / "f")
    with unwritable(built / "build" / "f"):
        r = cli(built, str(flow(built, "f", GOOD)), "--to", "hls")
    check_failed(r, str(built / "build" / "f"), "ASICFLOW_BUILD")
    assert snapshot(built / "build" / "f") == before


# -- failures, concurrency, kill -9 ----------------------------------------------------------
def slow_compiler(tmp: Path) -> Path:
    """A 'C++ compiler' that starts a child and hangs (a tool running for a while)."""
    p = tmp / "slowcxx"
    p.write_text("#!/bin/sh\nsleep 300 &\nsleep 301\n")
    p.chmod(0o755)
    return p


def failing_compiler(tmp: Path) -> Path:
    p = tmp / "badcxx"
    p.write_text("#!/bin/sh\necho 'badcxx: internal compiler error' >&2\nexit 3\n")
    p.chmod(0o755)
    return p


def start(tmp: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ASICFLOW_BUILD": str(tmp / "build")}
    return subprocess.Popen(
        [sys.executable, "-m", "asicflow", "run", *args],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def pgids_running(marker: str) -> set[int]:
    """Process groups of the processes whose command line holds ``marker``."""
    out = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker in (d / "cmdline").read_bytes().decode(errors="replace"):
                out.add(os.getpgid(int(d.name)))
        except (OSError, ProcessLookupError):
            continue
    return out


def group_members(pgid: int) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.getpgid(int(d.name)) == pgid:
                    found.append(int(d.name))
            except ProcessLookupError:
                continue
    return found


def wait_for(cond, timeout: float = 300.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def test_failure_log_path_exists(built: Path) -> None:
    cxx = failing_compiler(built)
    r = cli(built, str(flow(built, "f", GOOD + f"hls: {{cxx: {cxx}}}\n")), "--to", "csim")
    text = check_failed(r, "exit code 3", "internal compiler error")
    log = next(ln.split("log:", 1)[1].strip() for ln in text.splitlines() if "log:" in ln)
    assert log == str(built / "build" / "f" / "csim.failed" / "log.txt")
    assert Path(log).is_file()


def test_second_run_of_a_flow_is_refused(built: Path) -> None:
    cxx = slow_compiler(built)
    slow_flow = flow(built, "fslow", GOOD + f"name: f\nhls: {{cxx: {cxx}}}\n")
    first = start(built, str(slow_flow), "--to", "csim")
    try:
        wait_for(lambda: pgids_running(str(cxx)))
        before = snapshot(built / "build" / "f" / "golden")
        r = cli(built, str(flow(built, "f", GOOD)), "--to", "golden", "--always")
        check_failed(r, "is in use by another run", f"pid {first.pid}", "wait for it")
        env = {
            **os.environ,
            "ASICFLOW_BUILD": str(built / "build"),
            "ASICFLOW_FLOWS": str(flow(built, "f", GOOD)),
        }
        r = subprocess.run(  # plain doit: the step itself is refused
            [sys.executable, "-m", "doit", "-f", str(ROOT / "dodo.py"), "-a", "golden:f"],
            cwd=built,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        check_failed(r, "is in use by another run", f"pid {first.pid}")
        assert snapshot(built / "build" / "f" / "golden") == before
    finally:
        first.kill()
        first.communicate()
    r = cli(built, str(flow(built, "f", GOOD)), "--to", "golden")  # the lock died with it
    assert r.returncode == 0, r.stdout + r.stderr


def test_kill_9_leaves_no_tool_and_keeps_finished_steps(tmp_path: Path) -> None:
    cxx = slow_compiler(tmp_path)
    body = GOOD + f"name: k\nhls: {{cxx: {cxx}}}\n"
    run = start(tmp_path, str(flow(tmp_path, "k", body)), "--to", "csim")
    try:
        wait_for(lambda: pgids_running(str(cxx)))
        (pgid,) = pgids_running(str(cxx))
        wait_for(lambda: len(group_members(pgid)) >= 3)
        assert pgid != os.getpgid(run.pid)  # the tool has its own group...
        # guard, the compiler and its children
        os.kill(run.pid, signal.SIGKILL)  # ...and still dies with the flow
        run.communicate(timeout=30)
        wait_for(lambda: not group_members(pgid), timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
    # convert and hls (and golden) finished before the kill: they stay finished.
    r = cli(tmp_path, str(flow(tmp_path, "k", body)), "--to", "hls")
    assert r.returncode == 0, r.stdout + r.stderr
    assert {ln for ln in r.stdout.splitlines() if ln.strip()} == {"-- convert:k", "-- hls:k"}


# -- paths with spaces and non-ASCII characters ----------------------------------------------
@pytest.mark.tools
def test_build_path_with_spaces_and_unicode(tmp_path: Path) -> None:
    """Yosys takes the quoted liberty path, OpenSTA reads it through a plain symlink; cocotb's
    make build cannot run there, which rtl_cosim says before trying."""
    build = tmp_path / "my build ü"
    body = f"model: {ROOT}/examples/tiny_mlp/tiny_mlp.h5\nname: tiny\n"
    body += "data: {source: synthetic_jets, count: 50}\n"
    f = flow(tmp_path, "tiny flow é", body)
    r = cli(tmp_path, str(f), "--to", "sta", env={"ASICFLOW_BUILD": str(build)})
    assert r.returncode == 0, r.stdout + r.stderr
    metrics = json.loads((build / "tiny" / "sta" / "metrics.json").read_text())
    assert math.isfinite(metrics["timing__setup__ws"])
    assert json.loads((build / "tiny" / "synth" / "metrics.json").read_text())
    r = cli(tmp_path, str(f), "--to", "rtl_cosim", env={"ASICFLOW_BUILD": str(build)})
    check_failed(r, "cocotb builds the simulation with make", str(build), "ASICFLOW_BUILD")
