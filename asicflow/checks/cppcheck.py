"""cppcheck: command line, its XML report, and asicflow's HLS rules on its ``--dump`` output.

cppcheck parses the design without the ac_types headers (with them it runs for tens of minutes;
ac_fixed is then an unknown class, which its checks handle). The dump holds cppcheck's token
list with its AST, symbol database and value flow (template instantiations included), which the
two rules cppcheck and clang-tidy lack are checked on: ``hlsDynamicMemory`` (std containers,
smart pointers, besides new/malloc) and ``hlsUnboundedLoop`` (trip counts that are not
compile-time constants).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asicflow.checks.findings import Finding, classify

TOOL = "cppcheck"
HINT = "Install it: apt-get install cppcheck (Debian 12 ships 2.10; scripts/setup.sh does it)."
# error/warning/portability findings are defects; style/performance/information are not rules.
SEVERITIES = frozenset({"error", "warning", "portability"})
# Loop labels are Catapult directives' targets, not dead code.
SUPPRESS = ("unusedLabel",)

ALLOC_FUNCTIONS = frozenset(
    {"malloc", "calloc", "realloc", "free", "aligned_alloc", "alloca", "posix_memalign"}
)
STD_DYNAMIC = frozenset(
    {
        "vector",
        "string",
        "wstring",
        "basic_string",
        "list",
        "forward_list",
        "deque",
        "map",
        "multimap",
        "set",
        "multiset",
        "unordered_map",
        "unordered_multimap",
        "unordered_set",
        "unordered_multiset",
        "queue",
        "priority_queue",
        "stack",
        "shared_ptr",
        "unique_ptr",
        "weak_ptr",
        "make_shared",
        "make_unique",
        "function",
        "any",
        "allocator",
        "valarray",
    }
)
COMPARISONS = frozenset({"<", "<=", ">", ">=", "!="})
# Binary operators a compile-time bound may use (C semantics: division truncates to zero).
_ARITHMETIC: dict[str, Callable[[int, int], int]] = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: int(x / y),
    "%": lambda x, y: x - int(x / y) * y,
    "<<": lambda x, y: x << y,
    ">>": lambda x, y: x >> y,
    "<": lambda x, y: int(x < y),
    ">": lambda x, y: int(x > y),
    "<=": lambda x, y: int(x <= y),
    ">=": lambda x, y: int(x >= y),
    "==": lambda x, y: int(x == y),
    "!=": lambda x, y: int(x != y),
}


def argv(
    cppcheck: str,
    source: str,
    includes: list[str],
    defines: list[str],
    xml: str,
    std: str = "c++17",
) -> list[str]:
    """Check ``source`` (and the headers it includes) and write the XML report and the dump."""
    return [
        cppcheck,
        f"--std={std}",
        "--language=c++",
        "--enable=warning,portability",
        "--dump",
        "--xml",
        f"--output-file={xml}",
        "--quiet",
        *(f"--suppress={s}" for s in SUPPRESS),
        *defines,
        *(f"-I{i}" for i in includes),
        source,
    ]


def _relative(path: str, cwd: Path, root: Path) -> str | None:
    """``path`` (as cppcheck spelled it, relative to ``cwd``) relative to ``root``, or None."""
    try:
        return (cwd / path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def parse_xml(xml: Path, cwd: Path, root: Path) -> tuple[list[Finding], list[str]]:
    """Findings in files under ``root`` and notes on anything left out."""
    findings: list[Finding] = []
    notes: list[str] = []
    for err in ET.parse(xml).getroot().iter("error"):
        check, severity = err.get("id", "?"), err.get("severity", "")
        message = err.get("msg", "")
        if severity not in SEVERITIES:
            notes.append(f"cppcheck {severity} {check}: {message}")
            continue
        loc = err.find("location")  # cppcheck lists the error's own place first
        rel = _relative(loc.get("file", ""), cwd, root) if loc is not None else None
        if loc is None or rel is None:
            notes.append(f"cppcheck {check} outside the design: {message}")
            continue
        findings.append(
            Finding(
                classify(TOOL, check, message),
                rel,
                int(loc.get("line", "0")),
                TOOL,
                check,
                message,
                int(loc.get("column", "0")),
            )
        )
    return findings, notes


@dataclass
class _Dump:
    """One configuration of a cppcheck dump: tokens in order, by id, and value flow."""

    tokens: list[ET.Element]
    index: dict[str, int]
    values: dict[str, list[dict[str, str]]]
    variables: dict[str, ET.Element]
    scopes: list[ET.Element]

    def tok(self, tid: str | None) -> ET.Element | None:
        return self.tokens[self.index[tid]] if tid in self.index else None

    def next(self, t: ET.Element, k: int = 1) -> ET.Element | None:
        i = self.index[t.get("id", "")] + k
        return self.tokens[i] if 0 <= i < len(self.tokens) else None

    def known_int(self, t: ET.Element | None) -> int | None:
        """The value of a compile-time constant expression (cppcheck's 'known' value)."""
        if t is None:
            return None
        vals = self.values.get(t.get("values", ""), [])
        known = {v["intvalue"] for v in vals if v.get("known") == "true" and "intvalue" in v}
        if len(known) == 1 and len(vals) == 1:
            return int(known.pop())
        if t.get("type") == "number" and t.get("isInt") == "true":
            try:
                return int(t.get("str", "").rstrip("uUlL"), 0)
            except ValueError:
                return None
        return self._constant_expression(t)

    def _constant_expression(self, t: ET.Element) -> int | None:
        """Integer arithmetic and ``?:`` over constants, as the template instances of the
        kernels leave them (``p < 4 * 5``, ``i < (false ? 1 : 3)``), which cppcheck's value
        flow does not always fold."""
        s = t.get("str", "")
        if s in ("true", "false"):
            return int(s == "true")
        a, b = self.tok(t.get("astOperand1")), self.tok(t.get("astOperand2"))
        if s == "?" and b is not None and b.get("str") == ":":
            cond = self.known_int(a)
            if cond is None:
                return None
            return self.known_int(self.tok(b.get("astOperand1" if cond else "astOperand2")))
        if s == "(" and a is not None and b is None:  # parenthesised expression
            return self.known_int(a)
        if s not in _ARITHMETIC or a is None or b is None:
            return None
        x, y = self.known_int(a), self.known_int(b)
        if x is None or y is None or (s in ("/", "%") and y == 0) or (s in ("<<", ">>") and y < 0):
            return None
        return _ARITHMETIC[s](x, y)


def _dumps(path: Path) -> Iterator[_Dump]:
    root = ET.parse(path).getroot()
    for d in root.iter("dump"):
        tokenlist = d.find("tokenlist")
        tokens = list(tokenlist) if tokenlist is not None else []
        vf = d.find("valueflow")
        values = {
            v.get("id", ""): [dict(x.attrib) for x in v] for v in (vf if vf is not None else [])
        }
        vs = d.find("variables")
        variables = {v.get("id", ""): v for v in (vs if vs is not None else [])}
        sc = d.find("scopes")
        yield _Dump(
            tokens,
            {t.get("id", ""): i for i, t in enumerate(tokens)},
            values,
            variables,
            list(sc) if sc is not None else [],
        )


def hls_rules(dump: Path, cwd: Path, root: Path) -> list[Finding]:
    """asicflow's own rules on a cppcheck dump, for files under ``root``."""
    out: list[Finding] = []
    for d in _dumps(dump):

        def at(t: ET.Element, check: str, rule: str, message: str) -> None:
            rel = _relative(t.get("file", ""), cwd, root)
            if rel is not None:
                out.append(
                    Finding(
                        rule,
                        rel,
                        int(t.get("linenr", "0")),
                        TOOL,
                        check,
                        message,
                        int(t.get("column", "0")),
                    )
                )

        for t in d.tokens:
            s = t.get("str", "")
            nxt = d.next(t)
            if s in ("new", "delete"):
                at(
                    t,
                    "hlsDynamicMemory",
                    "dynamic-memory",
                    f"'{s}' {'allocates' if s == 'new' else 'frees'} heap memory, which "
                    "hardware does not have",
                )
            elif s in ALLOC_FUNCTIONS and nxt is not None and nxt.get("str") == "(":
                at(
                    t,
                    "hlsDynamicMemory",
                    "dynamic-memory",
                    f"{s}() manages heap memory, which hardware does not have",
                )
            elif s == "std" and nxt is not None and nxt.get("str") == "::":
                name = d.next(t, 2)
                if name is not None and name.get("str") in STD_DYNAMIC:
                    at(
                        t,
                        "hlsDynamicMemory",
                        "dynamic-memory",
                        f"std::{name.get('str')} allocates on the heap; use fixed-size arrays",
                    )
            elif s == "goto":
                at(
                    t,
                    "hlsUnboundedLoop",
                    "unbounded-loop",
                    "goto can form a loop without a compile-time trip count",
                )
        for scope in d.scopes:
            kind = scope.get("type")
            if kind in ("While", "Do", "For"):
                problem, where = _loop_problem(d, scope)
                if problem and where is not None:
                    at(where, "hlsUnboundedLoop", "unbounded-loop", problem)
    return out


def _loop_problem(d: _Dump, scope: ET.Element) -> tuple[str | None, ET.Element | None]:
    """Why a loop scope has no compile-time trip count (None if it has one), and where."""
    body = d.tok(scope.get("bodyStart"))
    if body is None:
        return None, None
    kind = scope.get("type")
    if kind == "Do":
        keyword = d.next(body, -1)
        end = d.tok(scope.get("bodyEnd"))
        cond_paren = d.next(end, 2) if end is not None else None
        cond = d.tok(cond_paren.get("astOperand2")) if cond_paren is not None else None
        if d.known_int(cond) == 0:
            return None, None  # do { ... } while (0)
        return (
            "do-while loop: its trip count is not a compile-time constant; write a for loop "
            "with a constant bound",
            keyword,
        )
    close = d.next(body, -1)
    paren = d.tok(close.get("link")) if close is not None else None
    keyword = d.next(paren, -1) if paren is not None else None
    if paren is None or keyword is None:
        return None, None
    if kind == "While":
        return (
            "while loop: its trip count is not a compile-time constant; write a for loop "
            "with a constant bound",
            keyword,
        )
    return _for_problem(d, paren, body), keyword


def _for_problem(d: _Dump, paren: ET.Element, body: ET.Element) -> str | None:
    semi1 = d.tok(paren.get("astOperand2"))
    if semi1 is None:
        return "for loop cppcheck could not parse; its trip count cannot be shown constant"
    if semi1.get("str") == ":":  # range-for: bounded when it walks a fixed-size array
        rng = d.tok(semi1.get("astOperand2"))
        var = d.variables.get(rng.get("variable", "")) if rng is not None else None
        if var is not None and var.get("isArray") == "true":
            return None
        return "range-for over something that is not a fixed-size array"
    semi2 = d.tok(semi1.get("astOperand2"))
    cond = d.tok(semi2.get("astOperand1")) if semi2 is not None else None
    step = d.tok(semi2.get("astOperand2")) if semi2 is not None else None
    if cond is None or cond.get("str") not in COMPARISONS:
        return "for loop without a comparison 'counter < constant' as its condition"
    a, b = d.tok(cond.get("astOperand1")), d.tok(cond.get("astOperand2"))
    if a is not None and a.get("varId") and d.known_int(b) is not None:
        counter = a.get("varId")
    elif b is not None and b.get("varId") and d.known_int(a) is not None:
        counter = b.get("varId")
    else:
        text = " ".join(x.get("str", "") for x in _span(d, paren))
        return f"for ({text}): the loop bound is not a compile-time constant"
    if not _constant_step(d, step, counter):
        return "for loop whose counter does not move by a constant step each iteration"
    end = d.tok(body.get("link"))
    i, stop = d.index[body.get("id", "")], d.index[end.get("id", "")] if end is not None else -1
    for t in d.tokens[i:stop]:
        if t.get("varId") == counter and _writes(d, t):
            return (
                f"the loop counter '{t.get('str')}' is written in the body (line "
                f"{t.get('linenr')}), so the trip count is not a compile-time constant"
            )
    return None


def _span(d: _Dump, paren: ET.Element) -> list[ET.Element]:
    close = d.tok(paren.get("link"))
    if close is None:
        return []
    return d.tokens[d.index[paren.get("id", "")] + 1 : d.index[close.get("id", "")]]


def _constant_step(d: _Dump, step: ET.Element | None, counter: str | None) -> bool:
    if step is None:
        return False
    op = step.get("str")
    a, b = d.tok(step.get("astOperand1")), d.tok(step.get("astOperand2"))
    if op in ("++", "--"):
        t = a if a is not None else b
        return t is not None and t.get("varId") == counter
    if op in ("+=", "-="):
        return a is not None and a.get("varId") == counter and bool(d.known_int(b))
    if op == "=" and a is not None and a.get("varId") == counter and b is not None:
        x, y = d.tok(b.get("astOperand1")), d.tok(b.get("astOperand2"))
        return (
            b.get("str") in ("+", "-")
            and x is not None
            and x.get("varId") == counter
            and bool(d.known_int(y))
        )
    return False


def _writes(d: _Dump, t: ET.Element) -> bool:
    """Whether variable token ``t`` is assigned, incremented or decremented."""
    parent = d.tok(t.get("astParent"))
    if parent is None:
        return False
    if parent.get("isAssignmentOp") == "true":
        return parent.get("astOperand1") == t.get("id")
    return parent.get("str") in ("++", "--")
