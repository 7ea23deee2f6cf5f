"""A tiny structural Verilog-2005 writer that keeps every width explicit.

All nets are declared unsigned; signedness lives in Python (:class:`Sig`) and is applied by
explicit sign or zero extension, so the emitted text never depends on Verilog's
signed/unsigned expression rules, and every assignment has equal widths on both sides
(``verilator -Wall`` clean). Each signal carries the exact range of raw values it can hold,
which lets the generator size every adder and skip impossible overflow checks.

Bits that are declared but intentionally never read (bits dropped by a modular wrap or a
truncation, an input that only meets zero weights) are collected into one ``unused_bits``
net: Verilator's documented idiom (names matching ``*unused*`` are exempt from UNUSED
warnings), no waiver. Usage is recorded when :meth:`Module.ref` / :meth:`Module.bit` /
:meth:`Module.fit` produce text, so callers only ask for text that they emit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    """
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign
default defparam design disable edge else end endcase endconfig endfunction endgenerate
endmodule endprimitive endspecify endtable endtask event for force forever fork function
generate genvar highz0 highz1 if ifnone incdir include initial inout input instance integer
join large liblist library localparam macromodule medium module nand negedge nmos nor
noshowcancelled not notif0 notif1 or output parameter pmos posedge primitive pull0 pull1
pulldown pullup pulsestyle_ondetect pulsestyle_onevent rcmos real realtime reg release repeat
rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled signed small specify specparam
strong0 strong1 supply0 supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand
trior trireg unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor
bit byte int logic longint shortint string type
""".split()
)

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")


def identifier(name: str) -> str:
    """``name`` made a legal, non-keyword Verilog identifier."""
    out = _NOT_IDENT.sub("_", name) or "n"
    if out[0].isdigit():
        out = "n" + out
    if out in KEYWORDS:
        out += "_"
    return out


def range_width(lo: int, hi: int) -> tuple[int, bool]:
    """(width, signed) of the narrowest two's complement / unsigned field holding lo..hi."""
    if lo < 0:
        return max(hi.bit_length(), (-lo - 1).bit_length()) + 1, True
    return max(hi.bit_length(), 1), False


def literal(value: int, width: int, signed: bool = False) -> str:
    """A sized literal holding the low ``width`` bits of ``value``'s two's complement."""
    digits = (width + 3) // 4
    return f"{width}'{'s' if signed else ''}h{value & ((1 << width) - 1):0{digits}x}"


@dataclass(frozen=True)
class Sig:
    """A value: bits ``[lsb, lsb+width)`` of net ``base`` (or a constant), with its range."""

    base: str
    lsb: int
    width: int
    signed: bool
    lo: int
    hi: int
    const: int | None = None

    @property
    def msb(self) -> int:
        return self.lsb + self.width - 1

    def bits(self, lsb: int, width: int, signed: bool, lo: int, hi: int) -> Sig:
        """A sub-field of this value's bits (relative bit positions)."""
        assert 0 <= lsb and lsb + width <= self.width and self.const is None
        return Sig(self.base, self.lsb + lsb, width, signed, lo, hi)


def const_sig(value: int) -> Sig:
    width, signed = range_width(value, value)
    return Sig("", 0, width, signed, value, value, const=value)


class Module:
    """Declarations, continuous assignments and registers of one module, with bit usage."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.header: list[str] = []
        self.ports: list[str] = []
        self.decls: list[str] = []
        self.body: list[str] = []
        self.seq: list[str] = []
        self._width: dict[str, int] = {}
        self._used: dict[str, int] = {}  # bit mask of bits read somewhere
        self._check_unused: set[str] = set()
        self.cells = {"flops": 0, "operands": 0}
        self.registers: list[tuple[str, int]] = []  # flip-flop nets (name, width)

    # -- names ---------------------------------------------------------------------------
    def fresh(self, name: str) -> str:
        name = identifier(name)
        if name not in self._width:
            return name
        k = 1
        while f"{name}_{k}" in self._width:
            k += 1
        return f"{name}_{k}"

    def _declare(self, name: str, width: int, check_unused: bool = True) -> None:
        assert name not in self._width, name
        self._width[name] = width
        self._used[name] = 0
        if check_unused:
            self._check_unused.add(name)

    def port(self, direction: str, name: str, width: int, reg: bool = False) -> Sig:
        kind = " reg" if reg else " wire"
        rng = f" [{width - 1}:0]" if width > 1 else ""
        self.ports.append(f"{direction}{kind}{rng} {name}")
        self._declare(name, width, check_unused=direction == "input")
        return Sig(name, 0, width, False, 0, (1 << width) - 1)

    def net(self, name: str, width: int, reg: bool = False, flop: bool = True) -> str:
        name = self.fresh(name)
        self._declare(name, width)
        rng = f" [{width - 1}:0]" if width > 1 else ""
        self.decls.append(f"{'reg ' if reg else 'wire'}{rng} {name};")
        if reg and flop:
            self.cells["flops"] += width
            self.registers.append((name, width))
        return name

    # -- reading values ------------------------------------------------------------------
    def ref(self, s: Sig) -> str:
        """The text of ``s`` (all its bits), marking them used."""
        if s.const is not None:
            return literal(s.const, s.width)
        self._used[s.base] |= ((1 << s.width) - 1) << s.lsb
        if s.lsb == 0 and s.width == self._width[s.base]:
            return s.base
        if s.width == 1:
            return f"{s.base}[{s.lsb}]"
        return f"{s.base}[{s.msb}:{s.lsb}]"

    def bit(self, s: Sig, i: int) -> str:
        """Text of bit ``i`` of ``s`` (for constants, the bit of its two's complement)."""
        if s.const is not None:
            return f"1'b{(s.const >> i) & 1}"
        return self.ref(s.bits(i, 1, False, 0, 1))

    def fit(self, s: Sig, width: int) -> str:
        """Text of width ``width`` holding ``s``'s value (extended, or its low bits kept).

        Keeping low bits is exact when the value fits (and is the modular wrap otherwise).
        """
        if s.const is not None:
            return literal(s.const, width)
        if width == s.width:
            return self.ref(s)
        if width < s.width:
            return self.ref(s.bits(0, width, s.signed, s.lo, s.hi))
        pad = width - s.width
        if s.signed and s.lo < 0:
            msb = self.bit(s, s.width - 1)
            ext = msb if pad == 1 else f"{{{pad}{{{msb}}}}}"
        else:
            ext = f"{pad}'b0"
        return f"{{{ext}, {self.ref(s)}}}"

    # -- writing values ------------------------------------------------------------------
    def assign(
        self,
        name: str,
        lo: int,
        hi: int,
        expr: str,
        width: int | None = None,
        signed: bool | None = None,
        block: list[str] | None = None,
    ) -> Sig:
        """Declare a net of the range's width (or ``width``) and assign ``expr`` to it.

        With ``block``, the value is a ``reg`` assigned by a statement appended to ``block``
        (emitted later as one ``always @*`` by :meth:`comb`).
        """
        w, sg = range_width(lo, hi)
        width = width or w
        net = self.net(name, width, reg=block is not None, flop=False)
        if block is None:
            self.body.append(f"assign {net} = {expr};")
        else:
            block.append(f"{net} = {expr};")
        return Sig(net, 0, width, sg if signed is None else signed, lo, hi)

    def comb(self, block: list[str]) -> None:
        """One ``always @*`` block: an event-driven simulator evaluates each of its (long)
        expressions once per input change, where a network of continuous assignments
        re-evaluates every adder for every changed operand."""
        if block:
            self.body += ["always @* begin", *[f"    {s}" for s in block], "end"]

    def unused_sink(self) -> None:
        """Collect every declared-but-unread bit into ``unused_bits`` (Verilator's idiom)."""
        parts: list[str] = []
        for name in sorted(self._check_unused):
            width, used = self._width[name], self._used[name]
            i = 0
            while i < width:
                if used >> i & 1:
                    i += 1
                    continue
                j = i
                while j + 1 < width and not used >> (j + 1) & 1:
                    j += 1
                if width == 1:
                    parts.append(name)
                else:
                    parts.append(f"{name}[{j}:{i}]" if j > i else f"{name}[{i}]")
                i = j + 1
        if parts:
            sink = self.fresh("unused_bits")  # Verilator exempts names matching *unused*
            self._declare(sink, 1, check_unused=False)
            self.decls.append(f"wire {sink};")
            self.body.append(
                "// bits no output depends on (dropped by a wrap or a rounding, "
                "or only met zero weights)"
            )
            self.body.append(f"assign {sink} = &{{1'b0, {', '.join(parts)}}};")

    def text(self) -> str:
        lines = [*self.header, "`default_nettype none", "", f"module {self.name} ("]
        lines += [
            f"    {p}{',' if k < len(self.ports) - 1 else ''}" for k, p in enumerate(self.ports)
        ]
        lines += [");", ""]
        lines += [f"    {d}" for d in self.decls] + [""]
        lines += [f"    {b}" for b in self.body] + [""]
        lines += [f"    {s}" for s in self.seq]
        lines += ["endmodule", "", "`default_nettype wire", ""]
        return "\n".join(line.rstrip() for line in lines)
