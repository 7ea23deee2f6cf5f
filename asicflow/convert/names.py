"""Identifiers that are safe in C++ and Verilog."""

from __future__ import annotations

import re

RESERVED = frozenset(
    """always and assign automatic begin buf case casex casez cell config deassign default
    defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule
    endprimitive endspecify endtable endtask event for force forever fork function generate
    genvar highz0 highz1 if ifnone incdir include initial inout input instance integer join
    large liblist library localparam macromodule medium module nand negedge nmos nor not
    notif0 notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup
    rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared
    signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
    tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand
    weak0 weak1 while wire wor xnor xor auto bool break char class const continue delete
    do double enum explicit extern float friend goto inline int long namespace new operator
    private protected public register return short sizeof static struct switch template this
    throw try typedef union virtual void volatile clk rst x y""".split()
)


def identifier(name: str, taken: set[str]) -> str:
    """A unique C/Verilog-safe identifier derived from ``name``; adds it to ``taken``."""
    base = re.sub(r"\W", "_", name).strip("_") or "layer"
    if base[0].isdigit():
        base = "l_" + base
    if base.lower() in RESERVED or base.startswith("in_") or base.startswith("out_"):
        base = base + "_l"
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out)
    return out
