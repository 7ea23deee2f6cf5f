"""The I2C register map: every weight and bias of a network, packed at its own bit width.

The map mirrors the network's ``params_in`` bus (``rtl.json`` ``"params"``): parameter bit
``b`` is bit ``b % 8`` of register byte ``b // 8``, so byte 0 holds ``params_in[7:0]``.
Element ``k`` of a parameter array sits at bits ``[offset + k*width, offset + (k+1)*width)``,
two's complement when signed, arrays flattened in C order. Bits above the last parameter in
the last byte are plain storage (read back as written, used by nothing).

Byte addresses are reached through a 16-bit pointer (see ``asicflow/i2c/i2c_target.v``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asicflow.errors import AsicflowError
from asicflow.fixed import IntArray
from asicflow.rtl.params import pack_params

POINTER_BITS = 16


@dataclass(frozen=True)
class Field:
    """One parameter array in the map."""

    layer: str
    name: str
    shape: tuple[int, ...]
    width: int
    signed: bool
    type: str
    offset: int  # first bit
    count: int

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Field:
        """From an ``rtl.json`` ``params`` entry or a ``regmap.json`` field."""
        return Field(
            str(d["layer"]),
            str(d["name"]),
            tuple(int(v) for v in d["shape"]),
            int(d["width"]),
            bool(d["signed"]),
            str(d["type"]),
            int(d["offset"]),
            int(d["count"]),
        )

    @property
    def key(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def bits(self) -> int:
        return self.width * self.count

    def byte_range(self) -> tuple[int, int]:
        """First and last register byte holding bits of this field."""
        return self.offset // 8, (self.offset + self.bits - 1) // 8


@dataclass(frozen=True)
class RegisterMap:
    address: int
    fields: tuple[Field, ...]

    @property
    def bits(self) -> int:
        return sum(f.bits for f in self.fields)

    @property
    def nbytes(self) -> int:
        return (self.bits + 7) // 8

    @staticmethod
    def from_rtl(rtl_info: dict[str, Any], address: int, max_width: int) -> RegisterMap:
        """The map of a ports-mode network's ``rtl.json``; every problem reported at once."""
        fields = tuple(Field.from_dict(p) for p in rtl_info["params"])
        problems = [
            f"{f.key} is {f.width} bits wide ({f.type}) but 'i2c.max_weight_bits' is "
            f"{max_width}: raise it, or quantize the layer to at most {max_width} bits"
            for f in fields
            if f.width > max_width
        ]
        pos = 0
        for f in fields:
            if f.offset != pos:
                problems.append(f"{f.key} starts at bit {f.offset}, expected {pos} (packed)")
            pos = f.offset + f.bits
        if pos != int(rtl_info["params_width"]):
            problems.append(f"parameters use {pos} bits, params_in is {rtl_info['params_width']}")
        if (pos + 7) // 8 > 1 << POINTER_BITS:
            problems.append(f"{pos} parameter bits exceed the 16-bit pointer's 64 KiB")
        if problems:
            raise AsicflowError(
                "the I2C register map cannot hold this network:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )
        return RegisterMap(address, fields)

    # -- files --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "pointer_bits": POINTER_BITS,
            "bytes": self.nbytes,
            "bits": self.bits,
            "byte_order": "parameter bit b is bit b%8 of register byte b//8",
            "fields": [
                {**asdict(f), "first_byte": f.byte_range()[0], "last_byte": f.byte_range()[1]}
                for f in self.fields
            ],
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @staticmethod
    def load(path: Path) -> RegisterMap:
        data = json.loads(path.read_text())
        fields = tuple(Field.from_dict(d) for d in data["fields"])
        return RegisterMap(int(data["address"]), fields)

    def table(self) -> str:
        """A human-readable markdown table of the map."""
        rows = [
            f"I2C target address `0x{self.address:02x}` (7-bit), 16-bit register pointer, "
            f"{self.nbytes} bytes ({self.bits} parameter bits, packed; bit b of the "
            "parameters is bit b%8 of byte b//8).",
            "",
            "| bytes | bits | parameter | shape | elements | element type | width |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in self.fields:
            first, last = f.byte_range()
            rows.append(
                f"| 0x{first:04x}-0x{last:04x} | {f.offset}-{f.offset + f.bits - 1} | "
                f"`{f.key}` | {'x'.join(map(str, f.shape))} | {f.count} | `{f.type}` | "
                f"{f.width} |"
            )
        return "\n".join(rows) + "\n"

    # -- values -------------------------------------------------------------------------
    def pack(self, arrays: dict[str, IntArray]) -> bytes:
        """The register image of raw parameter arrays keyed ``layer.name``."""
        try:
            word = pack_params([asdict(f) for f in self.fields], arrays)
        except ValueError as exc:
            raise AsicflowError(f"the weights do not fit the I2C register map: {exc}") from None
        return word.to_bytes(self.nbytes, "little")

    def unpack(self, image: bytes) -> dict[str, IntArray]:
        """Raw parameter arrays from a register image (the inverse of :meth:`pack`)."""
        word = int.from_bytes(image, "little")
        out = {}
        for f in self.fields:
            vals = []
            for k in range(f.count):
                v = (word >> (f.offset + k * f.width)) & ((1 << f.width) - 1)
                if f.signed and v >> (f.width - 1):
                    v -= 1 << f.width
                vals.append(v)
            out[f.key] = np.array(vals, np.int64).reshape(f.shape)
        return out


@dataclass(frozen=True)
class Write:
    """One I2C write transaction: S, address+W, pointer (2 bytes, MSB first), data, P."""

    register: int
    data: bytes

    def wire_bytes(self) -> list[int]:
        """The bytes after the address byte, as the bus carries them."""
        return [self.register >> 8, self.register & 0xFF, *self.data]


def transactions(image: bytes, chunk: int) -> list[Write]:
    """The write transactions that load ``image`` from register 0, ``chunk`` bytes each."""
    return [Write(p, image[p : p + chunk]) for p in range(0, len(image), chunk)]


def writes_json(regmap: RegisterMap, writes: list[Write]) -> dict[str, Any]:
    return {
        "address": regmap.address,
        "bytes": regmap.nbytes,
        "transactions": [{"register": w.register, "data": list(w.data)} for w in writes],
    }


def image_of_writes(data: dict[str, Any]) -> bytes:
    """The register file after every transaction of a :func:`writes_json` document."""
    image = bytearray(int(data["bytes"]))
    for t in data["transactions"]:
        start = int(t["register"])
        image[start : start + len(t["data"])] = bytes(int(b) for b in t["data"])
    return bytes(image)


def writes_text(regmap: RegisterMap, writes: list[Write]) -> str:
    """One line per transaction, as a bus analyser would show it."""
    lines = [
        f"# {len(writes)} I2C write transactions to target 0x{regmap.address:02x}: "
        "S addr+W ptr_hi ptr_lo data... P"
    ]
    for w in writes:
        body = " ".join(f"{b:02x}" for b in w.wire_bytes())
        lines.append(f"S {regmap.address << 1:02x} {body} P")
    return "\n".join(lines) + "\n"
