"""cocotb testbench: load a network's weights over a real I2C bus model, read them back,
stream the stimuli, compare bit exactly; then reprogram the running design with a second
weight set and check again.

Inputs from the environment (set by ``asicflow.cocotb_run``, started by the ``i2c_cosim`` and
``gl_sim`` steps):

``ASICFLOW_I2C``     JSON: ``rtl_json`` (the design's ``rtl.json``), ``regmap``
                     (``regmap.json``), ``sets`` (list of ``name``, ``writes`` =
                     ``writes.json`` of the programming helper, ``vectors`` = npz with raw
                     ``x`` and expected outputs ``y``), ``speed_hz`` (SCL frequency of the loads),
                     ``check_standard_mode`` (bytes overwritten with their complement,
                     read back, restored and read back at 100 kHz),
                     ``clock_ns``
``ASICFLOW_RESULT``  where to write the JSON result

The bus master is ``cocotbext.i2c.I2cMaster``. SDA is an open-drain wire: the design's
``sda_i`` sees the master's level AND NOT the design's ``sda_oe``; SCL is the master's
alone (the target never stretches it). The weights are not reset: the design runs with
whatever the previous set left until a load completes, as a chip would.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ValueChange
from cocotb.utils import get_sim_time
from cocotbext.i2c import I2cMaster
from test_network import pack, unpack

STANDARD_MODE_HZ = 100e3


class OpenDrainSda:
    """The SDA wire: the master's open-drain output and the design's ``sda_oe``."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.master = 1
        dut.sda_i.value = 1

    def update(self) -> None:
        self.dut.sda_i.value = self.master & (1 - _bit(self.dut.sda_oe))

    async def follow_target(self) -> None:
        while True:
            await ValueChange(self.dut.sda_oe)
            self.update()


class MasterSdaOut:
    """What I2cMaster drives (``sda_o``)."""

    def __init__(self, bus: OpenDrainSda) -> None:
        self.bus = bus

    @property
    def value(self) -> int:
        return self.bus.master

    @value.setter
    def value(self, v: Any) -> None:
        self.bus.master = int(bool(v))
        self.bus.update()

    def setimmediatevalue(self, v: Any) -> None:
        self.value = v


class BusSda:
    """What I2cMaster reads (``sda``): the wired-AND level."""

    _path = "i2c.sda"

    def __init__(self, bus: OpenDrainSda) -> None:
        self.bus = bus

    @property
    def value(self) -> int:
        return self.bus.master & (1 - _bit(self.bus.dut.sda_oe))


def _bit(handle: Any) -> int:
    try:
        return int(handle.value)
    except ValueError:  # X/Z on an output: a fault in the design, read as released
        return 0


class Bench:
    def __init__(self, dut: Any, cfg: dict[str, Any]) -> None:
        self.dut = dut
        self.cfg = cfg
        self.info = json.loads(Path(cfg["rtl_json"]).read_text())
        self.regmap = json.loads(Path(cfg["regmap"]).read_text())
        self.address = int(self.regmap["address"])
        self.sda = OpenDrainSda(dut)
        self.has_flag = "tmr_error" in self.info["ports"]
        self.flag_seen = False

    def master(self, scl_hz: float) -> I2cMaster:
        """A bus master clocking SCL at ``scl_hz``, 50 % duty. I2cMaster's ``speed`` sets
        its bit timer (SCL high for 1/speed, low for 1/speed), so SCL runs at speed / 2."""
        return I2cMaster(
            sda=BusSda(self.sda),
            sda_o=MasterSdaOut(self.sda),
            scl=self.dut.scl_i,
            scl_o=self.dut.scl_i,
            speed=2 * scl_hz,
        )

    async def load(self, m: I2cMaster, writes: dict[str, Any]) -> None:
        for t in writes["transactions"]:
            reg = int(t["register"])
            await m.write(self.address, [reg >> 8, reg & 0xFF, *t["data"]])
            await m.send_stop()

    async def read(self, m: I2cMaster, start: int, count: int) -> bytes:
        await m.write(self.address, [start >> 8, start & 0xFF])
        data = await m.read(self.address, count)  # repeated start
        await m.send_stop()
        return bytes(data)

    async def address_acked(self, m: I2cMaster, address: int) -> bool:
        await m.send_start()
        nack = await m.send_byte(address << 1)
        await m.send_stop()
        return not nack

    async def stream(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Every stimulus back to back; outputs sampled at falling edges."""
        dut, info = self.dut, self.info
        t_in, t_out = info["input"], info["output"]
        inputs = pack(x, int(t_in["width"]))
        got: list[int] = []
        guard = len(inputs) + int(info["latency_cycles"]) + 64
        cycle = 0
        while len(got) < len(inputs) and cycle < guard:
            await FallingEdge(dut.clk)
            if int(dut.out_valid.value):
                got.append(int(dut.out_data.value.to_unsigned()))
                if self.has_flag and int(dut.tmr_error.value):
                    self.flag_seen = True
            if cycle < len(inputs):
                dut.in_valid.value = 1
                dut.in_data.value = inputs[cycle]
            else:
                dut.in_valid.value = 0
            cycle += 1
        out = unpack(got, int(t_out["size"]), int(t_out["width"]), bool(t_out["signed"]))
        n = min(len(out), len(y))
        bad = np.argwhere(out[:n] != y[:n])
        first = None
        if bad.size:
            s, i = (int(v) for v in bad[0])
            first = f"stimulus {s}, output {i}: expected raw {int(y[s, i])}, got {int(out[s, i])}"
        return {
            "vectors": len(inputs),
            "outputs": len(got),
            "mismatches": int((out[:n] != y[:n]).any(axis=1).sum()) + (len(y) - n),
            "first_mismatch": first,
        }


@cocotb.test()
async def i2c_weight_loading(dut: Any) -> None:
    cfg_file = Path(os.environ["ASICFLOW_I2C"])
    cfg: dict[str, Any] = json.loads(cfg_file.read_text())
    base = cfg_file.parent  # paths in the file are relative to it
    cfg["rtl_json"], cfg["regmap"] = base / cfg["rtl_json"], base / cfg["regmap"]
    for s in cfg["sets"]:
        s["writes"], s["vectors"] = base / s["writes"], base / s["vectors"]
    result_path = Path(os.environ["ASICFLOW_RESULT"])
    b = Bench(dut, cfg)
    Clock(dut.clk, float(cfg.get("clock_ns", 10)), unit="ns").start()
    cocotb.start_soon(b.sda.follow_target())
    dut.scl_i.value = 1
    dut.in_valid.value = 0
    dut.in_data.value = 0
    dut.rst.value = 1
    for _ in range(4):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)

    fast = b.master(float(cfg["speed_hz"]))
    result: dict[str, Any] = {
        "speed_hz": float(cfg["speed_hz"]),
        "address": b.address,
        "register_bytes": int(b.regmap["bytes"]),
        "ack_on_address": await b.address_acked(fast, b.address),
        "nack_on_other_address": not await b.address_acked(fast, b.address ^ 0x01),
        "sets": [],
    }
    start = time.perf_counter()
    for s in cfg["sets"]:
        writes = json.loads(Path(s["writes"]).read_text())
        image = b"".join(bytes(t["data"]) for t in writes["transactions"])
        t0 = get_sim_time("us")
        await b.load(fast, writes)
        t_load = get_sim_time("us") - t0
        # every byte, or (readback_sample n) the first and the last n bytes
        sample = int(cfg.get("readback_sample", 0))
        windows = (
            [(0, sample), (len(image) - sample, sample)]
            if 0 < 2 * sample < len(image)
            else [(0, len(image))]
        )
        back: dict[int, int] = {}
        for first, count in windows:
            data = await b.read(fast, first, count)
            back.update((first + k, v) for k, v in enumerate(data))
        errors = [k for k in sorted(back) if back[k] != image[k]]
        with np.load(s["vectors"]) as v:
            x, y = v["x"], v["y"]
        run = await b.stream(x, y)
        result["sets"].append(
            {
                "name": s["name"],
                "transactions": len(writes["transactions"]),
                "bytes": len(image),
                "load_sim_us": t_load,
                "readback_bytes": len(back),
                "readback_errors": len(errors),
                "first_readback_error": (
                    f"byte 0x{errors[0]:04x}: wrote 0x{image[errors[0]]:02x}, "
                    f"read 0x{back[errors[0]]:02x}"
                    if errors
                    else None
                ),
                **run,
            }
        )
    n_std = int(cfg.get("check_standard_mode", 0))
    if n_std:
        # At 100 kHz: overwrite the last loaded bytes with their complement (every bit
        # changes, so a write that did not land reads back wrong), read back, then write the
        # loaded bytes again and read back.
        slow = b.master(STANDARD_MODE_HZ)
        first = max(0, len(image) - n_std)
        chunk = list(image[first:])
        errors = 0
        for data in ([v ^ 0xFF for v in chunk], chunk):
            await slow.write(b.address, [first >> 8, first & 0xFF, *data])
            await slow.send_stop()
            back = await b.read(slow, first, len(data))
            errors += sum(1 for p, q in zip(back, data, strict=True) if p != q)
        result["standard_mode"] = {"bytes": len(chunk), "writes": 2, "errors": errors}
    result["tmr_error_seen"] = b.flag_seen
    result["wall_seconds"] = time.perf_counter() - start
    result_path.write_text(json.dumps(result, indent=1) + "\n")

    assert result["ack_on_address"], "the design did not acknowledge its own address"
    assert result["nack_on_other_address"], "the design acknowledged a foreign address"
    for r in result["sets"]:
        assert r["readback_errors"] == 0, f"{r['name']}: read-back {r['first_readback_error']}"
        assert (
            r["mismatches"] == 0
        ), f"{r['name']}: {r['mismatches']} mismatches, {r['first_mismatch']}"
    assert not b.flag_seen, "tmr_error was raised without any upset"
    if n_std:
        assert result["standard_mode"]["errors"] == 0, "standard-mode read-back differs"
