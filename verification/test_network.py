"""cocotb testbench: stream golden stimuli through a generated network and compare bit exactly.

Reads its inputs from the environment (set by ``asicflow.rtl.cosim_run``):

``ASICFLOW_STIMULI``   ``golden/stimuli.npz`` (raw ``x``, golden ``y``, ``layer.<name>``)
``ASICFLOW_RTL_JSON``  ``rtl/rtl.json`` (widths, latency, per-layer probe signals)
``ASICFLOW_RESULT``    where to write the JSON result
``ASICFLOW_GRAPH_DIR`` optional: the IR folder (``convert/``), to name the first diverging layer
``ASICFLOW_SEED``      optional: seed of the random in_valid gaps of the second pass
``ASICFLOW_PARAMS``    weights-as-inputs designs (``rtl.json`` ``params``): the raw parameter
                       arrays driven on ``params_in`` (an npz keyed ``<layer>.<name>``, as
                       ``weights.npz``); default: ``$ASICFLOW_GRAPH_DIR/weights.npz``

The top's port protocol comes from ``rtl.json`` ``port_map`` (role -> port name; absent: the
native valid interface ``clk``/``rst``/``in_valid``/``in_data``/``out_valid``/``out_data``):
Catapult's channels add ``in_ready`` (an input transfer needs it high at the falling edge
before the rising edge, so it must not depend combinationally on valid) and ``out_ready``
(held high: no back-pressure is applied); Bambu's start/done maps onto in_valid/out_valid
with other port names. ``rst_active`` is the reset level.

Pass 1 drives every stimulus back to back (in_valid high every cycle) and measures
throughput; pass 2 drives them again with random in_valid gaps. Inputs are written and
outputs sampled at the falling clock edge, one whole-bus write per cycle. On a mismatch the
first failing stimulus is replayed alone while every layer's named register/net is read, to
report the first layer that diverges from the golden per-layer outputs.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import Timer

from asicflow.hlstools import PROTOCOLS
from asicflow.rtl.params import PARAMS_PORT, pack_params

GAP_PROBABILITY = 0.3
STALL_PROBABILITY = 0.3  # out_ready low (designs with backpressure, rtl.json "backpressure")
# Switching activity: the first stimuli streamed back to back, every port bit and the bits of
# up to ACTIVITY_SIGNALS of the design's registers (rtl.json "registers", evenly chosen)
# sampled once per cycle (the power step's global activity).
ACTIVITY_VECTORS = 400
ACTIVITY_SIGNALS = 400
NATIVE_PORTS: dict[str, Any] = PROTOCOLS["native_valid"]
UNDECLARED_LATENCY_GUARD = 256  # cycles to wait for outputs when rtl.json declares no latency


def pack(x: np.ndarray, width: int) -> list[int]:
    """Rows of raw integers -> bus values (element i at bits [i*width +: width])."""
    n, size = x.shape
    u = np.asarray(x, np.int64).astype(np.uint64) & np.uint64((1 << width) - 1)
    bits = ((u[:, :, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    packed = np.packbits(bits.reshape(n, size * width), axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def unpack(values: list[int], size: int, width: int, signed: bool) -> np.ndarray:
    """Bus values -> rows of raw integers (two's complement when ``signed``)."""
    if not values:
        return np.zeros((0, size), np.int64)
    nbytes = (size * width + 7) // 8
    raw = np.frombuffer(b"".join(v.to_bytes(nbytes, "little") for v in values), np.uint8)
    bits = np.unpackbits(raw.reshape(len(values), nbytes), axis=1, bitorder="little")
    bits = bits[:, : size * width].reshape(len(values), size, width).astype(np.int64)
    out = (bits << np.arange(width, dtype=np.int64)).sum(axis=2)
    if signed:
        out = np.where(out >> (width - 1) & 1, out - (1 << width), out)
    return out


def read(handle: Any) -> int | None:
    """A bus (or single-bit) value as an unsigned int, or None when any bit is X or Z."""
    value = handle.value
    try:
        return int(value.to_unsigned()) if hasattr(value, "to_unsigned") else int(value)
    except ValueError:
        return None


def handle(dut: Any, path: str) -> Any:
    """A signal by name, or by a dotted path into sub-instances (``u_net.dense0_q``)."""
    h = dut
    for part in path.split("."):
        h = getattr(h, part)
    return h


class Bench:
    def __init__(self, dut: Any, info: dict[str, Any]) -> None:
        self.dut = dut
        self.info = info
        ports = {**NATIVE_PORTS, **info.get("port_map", {})}
        self.ports = ports
        self.clk = handle(dut, ports["clk"])
        self.rst = handle(dut, ports["rst"])
        self.rst_active = int(ports["rst_active"])
        self.in_valid = handle(dut, ports["in_valid"])
        self.in_data = handle(dut, ports["in_data"])
        self.out_valid = handle(dut, ports["out_valid"])
        self.out_data = handle(dut, ports["out_data"])
        self.in_ready = handle(dut, ports["in_ready"]) if ports["in_ready"] else None
        self.out_ready = handle(dut, ports["out_ready"]) if ports["out_ready"] else None
        self.fe = self.clk.falling_edge
        declared = info.get("latency_cycles")
        self.latency = int(declared) if declared is not None else UNDECLARED_LATENCY_GUARD
        self.ii = int(info.get("ii") or 1)

    async def reset(self) -> None:
        self.in_valid.value = 0
        if self.out_ready is not None:
            self.out_ready.value = 1
        self.rst.value = self.rst_active
        for _ in range(2):
            await self.fe
        self.rst.value = 1 - self.rst_active
        await self.fe

    async def stream(
        self,
        packed: list[int],
        gaps: random.Random | None,
        stalls: random.Random | None = None,
    ) -> dict[str, Any]:
        """Drive all of ``packed``; outputs and the cycle each input/output was transferred.

        ``gaps``: random in_valid gaps; ``stalls``: random out_ready lows (backpressure; the
        design's in_ready may depend on out_ready, so it is read 1 ns after out_ready is set).
        """
        fe = self.fe
        in_data, in_valid, in_ready = self.in_data, self.in_valid, self.in_ready
        out_valid, out_data, out_ready = self.out_valid, self.out_data, self.out_ready
        n = len(packed)
        outs: list[int | None] = []
        out_cycles: list[int] = []
        drive_cycles: list[int] = []
        cycle, k, valid = 0, 0, False
        guard = (self.latency + 16) * (1 if stalls is None else 8)
        start = time.perf_counter()
        while True:
            taken = True
            if stalls is not None and out_ready is not None:
                taken = stalls.random() >= STALL_PROBABILITY
                out_ready.value = int(taken)
                await Timer(1, unit="ns")
            if cycle and out_valid.value == 1 and taken:
                outs.append(read(out_data))
                out_cycles.append(cycle)
            if len(outs) >= n or (k == n and cycle - drive_cycles[-1] > guard):
                break  # done, or outputs missing
            ready = in_ready is None or in_ready.value == 1
            want = k < n and ready and (gaps is None or gaps.random() >= GAP_PROBABILITY)
            if want:
                in_data.value = packed[k]
                drive_cycles.append(cycle)
                k += 1
            elif gaps is not None and k < n:
                in_data.value = packed[gaps.randrange(n)]  # data without valid is ignored
            if want != valid:
                in_valid.value = int(want)
                valid = want
            await fe
            cycle += 1
        seconds = time.perf_counter() - start
        if valid:
            in_valid.value = 0
        if out_ready is not None:
            out_ready.value = 1
        for _ in range(self.latency + 2 * self.ii + 2):  # drain: nothing more may come out
            await fe
            cycle += 1
            if out_valid.value == 1:
                outs.append(read(out_data))
                out_cycles.append(cycle)
        return {
            "outs": outs,
            "out_cycles": out_cycles,
            "drive_cycles": drive_cycles,
            "cycles": cycle,
            "seconds": seconds,
        }

    async def activity(self, packed: list[int], info: dict[str, Any]) -> dict[str, Any]:
        """Toggles per cycle of the ports and registers while ``packed`` streams through."""
        regs = [r for r in info.get("registers") or [] if isinstance(r, list) and len(r) == 2]
        step = max(1, -(-len(regs) // ACTIVITY_SIGNALS))
        chosen = regs[::step]
        signals = []
        for name, width in chosen:
            if str(name) in (self.ports["in_data"], self.ports["out_data"]):
                continue
            try:  # a simulator may optimize a register away or not expose it
                signals.append((str(name), int(width), handle(self.dut, str(name))))
            except AttributeError:
                continue
        w_in, w_out = len(self.in_data), len(self.out_data)
        watched = [(w_in, self.in_data), (w_out, self.out_data)] + [(w, h) for _, w, h in signals]
        prev: list[int | None] = [None] * len(watched)
        toggles = [0] * len(watched)
        cycles = 0
        if self.out_ready is not None:
            self.out_ready.value = 1
        feed = list(packed[:ACTIVITY_VECTORS])
        total = len(feed) * self.ii + self.latency + 2
        self.in_valid.value = 1
        for c in range(total):
            ready = self.in_ready is None or self.in_ready.value == 1
            if feed and ready:
                self.in_data.value = feed.pop(0)
            elif not feed:
                self.in_valid.value = 0
            await self.fe
            values = [read(h) for _, h in watched]
            if c:
                cycles += 1
                for k, v in enumerate(values):
                    before = prev[k]
                    if v is not None and before is not None:
                        toggles[k] += bin(v ^ before).count("1")
            prev = values
        self.in_valid.value = 0
        bits = sum(w for w, _ in watched)
        mean = sum(toggles) / (bits * cycles) if bits and cycles else 0.0
        return {
            "cycles": cycles,
            "vectors": min(len(packed), ACTIVITY_VECTORS),
            "bits": bits,
            "port_bits": w_in + w_out,
            "registers_sampled": len(signals),
            "registers_total": len(regs),
            "toggles": sum(toggles),
            "mean": mean,
        }

    async def probe(self, packed: int) -> dict[str, np.ndarray | None]:
        """Replay one stimulus alone and read every layer's named signal at its cycle (counted
        from the transfer; None for a signal holding X or Z)."""
        await self.reset()
        self.in_data.value = packed
        self.in_valid.value = 1
        got: dict[str, np.ndarray | None] = {}
        if not self.info["layers"]:
            return got  # tool RTL: no known per-layer signals
        for _ in range(4 * self.ii + 4):  # wait for the transfer (in_ready)
            if self.in_ready is None or self.in_ready.value == 1:
                break
            await self.fe
        for cycle in range(1, self.latency + 1):
            await self.fe
            self.in_valid.value = 0
            for p in self.info["layers"]:
                if p["cycle"] == cycle:
                    value = read(handle(self.dut, p["signal"]))
                    got[p["name"]] = (
                        None
                        if value is None
                        else unpack([value], p["size"], p["width"], p["signed"])[0]
                    )
        return got


def drive_params(dut: Any, info: dict[str, Any], path: str | None) -> None:
    """Hold ``params_in`` at the parameter arrays (weights-as-inputs designs only)."""
    if not info.get("params_width"):
        return
    if path is None:
        raise ValueError("a weights-as-inputs design needs parameter arrays (graph folder)")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    port = info.get("port_map", {}).get("params_in", PARAMS_PORT)
    handle(dut, port).value = pack_params(info["params"], arrays)


def compare(name: str, run: dict[str, Any], y: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
    """Per-pass figures: mismatching vectors, first mismatch, latencies."""
    o = info["output"]
    n = y.shape[0]
    values = run["outs"][:n]
    unknown = {i for i, v in enumerate(values) if v is None}  # X or Z on out_data
    got = unpack([v or 0 for v in values], o["size"], o["width"], o["signed"])
    bad = [i for i in range(got.shape[0]) if i in unknown or not np.array_equal(got[i], y[i])]
    missing = n - got.shape[0]
    extra = max(len(run["outs"]) - n, 0)
    first = None
    if bad:
        s = bad[0]
        j = 0 if s in unknown else int(np.flatnonzero(got[s] != y[s])[0])
        first = {
            "pass": name,
            "stimulus": s,
            "output": j,
            "expected": int(y[s, j]),
            "got": "X" if s in unknown else int(got[s, j]),
        }
    elif missing:
        first = {
            "pass": name,
            "stimulus": got.shape[0],
            "output": None,
            "expected": None,
            "got": None,
        }
    lat = [o_ - d for o_, d in zip(run["out_cycles"], run["drive_cycles"], strict=False)]
    gaps = np.diff(run["out_cycles"][:n]) if n > 1 else np.ones(1, np.int64)
    return {
        "vectors": n,
        "mismatches": len(bad) + missing + extra,
        "missing": missing,
        "extra": extra,
        "first_mismatch": first,
        "cycles": run["cycles"],
        "seconds": round(run["seconds"], 4),
        "vectors_per_s": round(n / run["seconds"], 1) if run["seconds"] > 0 else None,
        "latency_min": min(lat, default=None),
        "latency_max": max(lat, default=None),
        "max_output_interval": int(gaps.max()) if len(gaps) else None,
    }


def divergence(
    info: dict[str, Any],
    stim: dict[str, np.ndarray],
    s: int,
    got: dict[str, np.ndarray | None],
    graph_dir: str | None,
) -> str | None:
    """The first layer whose output differs for stimulus ``s`` (golden.first_divergence)."""
    expected: dict[str, np.ndarray] = {}
    actual: dict[str, np.ndarray] = {}
    for p in info["layers"]:
        name = p["name"]
        if f"layer.{name}" not in stim or name not in got:
            continue
        value = got[name]
        if value is None:  # layers before it agree (else reported below): X/Z starts here
            unknown = f"layer '{name}', stimulus {s}: signal {p['signal']} holds X or Z"
            return _first(expected, actual, s, graph_dir) or unknown
        expected[name] = stim[f"layer.{name}"]
        actual[name] = expected[name].copy()
        actual[name][s] = value
    return _first(expected, actual, s, graph_dir)


def _first(
    expected: dict[str, np.ndarray], actual: dict[str, np.ndarray], s: int, graph_dir: str | None
) -> str | None:
    if graph_dir and (Path(graph_dir) / "graph.json").is_file():
        from asicflow.golden import first_divergence
        from asicflow.ir import Graph

        return first_divergence(Graph.load(Path(graph_dir)), expected, actual)
    for name in expected:  # no graph: the same report without the Keras layer names
        bad = np.flatnonzero(expected[name][s] != actual[name][s])
        if bad.size:
            i = int(bad[0])
            return (
                f"layer '{name}', stimulus {s}, index {i}: expected raw "
                f"{int(expected[name][s, i])}, got {int(actual[name][s, i])}"
            )
    return None


async def check(dut: Any, run: dict[str, Any], clock: bool) -> dict[str, Any]:
    """Stream one stimulus set through one network (``run``: paths as in the environment
    variables above) and return the result; write it to ``run["result"]``."""
    info = json.loads(Path(run["rtl_json"]).read_text())
    with np.load(run["stimuli"]) as npz:
        stim = {k: npz[k].astype(np.int64) for k in npz.files}
    x, y = stim["x"], stim["y"]
    packed = pack(x, int(info["input"]["width"]))
    bench = Bench(dut, info)
    graph_dir = run.get("graph_dir")
    params = run.get("params") or (str(Path(graph_dir) / "weights.npz") if graph_dir else None)
    drive_params(dut, info, params)
    if clock:
        Clock(bench.clk, 10, unit="ns").start()
    await bench.reset()

    passes = {"stream": compare("stream", await bench.stream(packed, None), y, info)}
    seed = int(run.get("seed", 1))
    await bench.reset()
    passes["gaps"] = compare("gaps", await bench.stream(packed, random.Random(seed)), y, info)
    if info.get("backpressure") and bench.out_ready is not None:
        await bench.reset()
        rng = random.Random(seed + 1)
        passes["backpressure"] = compare(
            "backpressure", await bench.stream(packed, rng, rng), y, info
        )
    await bench.reset()
    activity = await bench.activity(packed, info)
    stream = passes["stream"]
    first = next((p["first_mismatch"] for p in passes.values() if p["first_mismatch"]), None)
    where = None
    if first is not None and first["stimulus"] < x.shape[0]:
        s = first["stimulus"]
        where = divergence(info, stim, s, await bench.probe(packed[s]), graph_dir)
    timed = (passes["stream"], passes["gaps"])  # backpressure changes latency: not timed
    lat = {v for p in timed for v in (p["latency_min"], p["latency_max"]) if v is not None}
    result = {
        "simulator": cocotb.SIM_NAME,
        "top": info["top"],
        "vectors": int(x.shape[0]),
        "mismatches": sum(p["mismatches"] for p in passes.values()),
        "first_mismatch": first,
        "divergence": where,
        "latency_cycles": stream["latency_min"],
        "latency_constant": len(lat) == 1,
        "latency_expected": bench.latency,
        "ii": stream["max_output_interval"] if stream["mismatches"] == 0 else None,
        "vectors_per_s": stream["vectors_per_s"],
        "activity": activity,
        "passes": passes,
    }
    Path(run["result"]).write_text(json.dumps(result, indent=1) + "\n")
    return result


@cocotb.test()
async def network_matches_golden(dut: Any) -> None:
    """One network (``ASICFLOW_RTL_JSON`` ...) or a suite of networks in one top
    (``ASICFLOW_SUITE``: a JSON list of runs ``{rtl_json, stimuli, graph_dir, params, result,
    seed}``, checked one after the other in one simulation)."""
    suite = os.environ.get("ASICFLOW_SUITE")
    if suite:
        runs = json.loads(Path(suite).read_text())
    else:
        runs = [
            {
                "rtl_json": os.environ["ASICFLOW_RTL_JSON"],
                "stimuli": os.environ["ASICFLOW_STIMULI"],
                "graph_dir": os.environ.get("ASICFLOW_GRAPH_DIR"),
                "params": os.environ.get("ASICFLOW_PARAMS"),
                "result": os.environ["ASICFLOW_RESULT"],
                "seed": int(os.environ.get("ASICFLOW_SEED", "1")),
            }
        ]
    failures = []
    for k, run in enumerate(runs):
        result = await check(dut, run, clock=k == 0)
        if result["mismatches"]:
            failures.append(
                f"{result['top']}: {result['mismatches']} mismatches: "
                f"{result['first_mismatch']}; {result['divergence']}"
            )
        elif not result["latency_constant"]:
            failures.append(f"{result['top']}: latency is not constant")
    assert not failures, "\n".join(failures)
