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


CXX_KEYWORDS = frozenset(
    "alignas alignof and asm auto bool break case catch char class const constexpr continue "
    "default delete do double else enum explicit export extern false float for friend goto if "
    "inline int long mutable namespace new noexcept not nullptr operator or private protected "
    "public register return short signed sizeof static struct switch template this throw true "
    "try typedef typeid typename union unsigned using virtual void volatile while".split()
)
# Names the generated C++ / Verilog already use at the top level.
TOP_RESERVED = frozenset({"main", "N_IN", "N_OUT", "asicflow"})
FLOW_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FLOW_NAME_RULE = (
    "a flow name is a plain identifier like 'digits_mlp': a letter or '_', then letters, "
    "digits or '_' (at most 64), no C++ or Verilog keyword; it names the build folder "
    "build/<name>/, the C++ top function and the Verilog module"
)


def flow_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a flow name (None: it can)."""
    if not FLOW_NAME.fullmatch(name):
        return "is not a plain identifier"
    if name in CXX_KEYWORDS or name in TOP_RESERVED or name.lower() in RESERVED:
        return "is a reserved word"
    return None


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
