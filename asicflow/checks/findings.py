"""HLS design rules, which tool enforces each, and the findings they produce."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Rule:
    name: str
    meaning: str
    enforced_by: tuple[str, ...]


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule(
            "uninitialized-data",
            "no value is read before it is written",
            (
                "clang-tidy: clang-analyzer-core.uninitialized.*, "
                "clang-analyzer-core.UndefinedBinaryOperatorResult, "
                "cppcoreguidelines-init-variables, "
                "clang -Wuninitialized",
                "cppcheck: uninitvar, uninitdata, uninitStructMember, uninitMemberVar",
            ),
        ),
        Rule(
            "out-of-bounds",
            "every array index stays inside the array",
            (
                "cppcheck: arrayIndexOutOfBounds, arrayIndexOutOfBoundsCond, negativeIndex, "
                "bufferAccessOutOfBounds, pointerOutOfBounds",
                "clang-tidy: clang -Warray-bounds",
            ),
        ),
        Rule(
            "dynamic-memory",
            "no heap: new/delete, malloc/free, std containers, smart pointers "
            "(not synthesizable)",
            (
                "clang-tidy: cppcoreguidelines-no-malloc, cppcoreguidelines-owning-memory, "
                "clang-analyzer-cplusplus.NewDelete*, clang-analyzer-unix.Malloc",
                "asicflow hlsDynamicMemory on cppcheck's token list (--dump): new, delete, "
                "malloc/calloc/realloc/free/alloca, std:: containers, strings and smart pointers",
            ),
        ),
        Rule(
            "recursion",
            "no function calls itself, directly or through others",
            ("clang-tidy: misc-no-recursion", "clang-tidy: clang -Winfinite-recursion"),
        ),
        Rule(
            "unbounded-loop",
            "every loop has a compile-time trip count",
            (
                "asicflow hlsUnboundedLoop on cppcheck's AST and value flow (--dump): while, do "
                "and goto loops; for loops whose bound is not a compile-time constant, whose step "
                "is not "
                "a constant or whose counter is written in the body",
                "clang-tidy: bugprone-infinite-loop, bugprone-too-small-loop-variable, "
                "clang-analyzer-security.FloatLoopCounter",
            ),
        ),
        Rule(
            "accumulator-overflow",
            "every complete sum of a Dense layer fits its accumulator type "
            "for the declared input range and the constant weights (the "
            "AC_WRAP sum is modular, so it is then exact in any order)",
            ("asicflow range proof on the IR (asicflow/checks/ranges.py)",),
        ),
        Rule(
            "wrap-overflow",
            "no value cast into an AC_WRAP output type can wrap around",
            ("asicflow range proof on the IR (asicflow/checks/ranges.py)",),
        ),
        Rule(
            "analyzer-defect",
            "any other defect an analyzer reports (null dereference, division "
            "by zero, shift past the width, code that does not compile, ...)",
            (
                "cppcheck: every error, warning and portability finding",
                "clang-tidy: every other clang-analyzer-* finding and compiler error",
            ),
        ),
    )
}

# (tool, check id regex, rule): the first match files a finding; no match -> analyzer-defect.
_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("clang-tidy", r"clang-analyzer-core\.uninitialized\..*", "uninitialized-data"),
    ("clang-tidy", r"clang-analyzer-core\.UndefinedBinaryOperatorResult", "uninitialized-data"),
    ("clang-tidy", r"cppcoreguidelines-init-variables", "uninitialized-data"),
    ("clang-tidy", r"clang-diagnostic-(sometimes-)?uninitialized", "uninitialized-data"),
    ("clang-tidy", r"clang-diagnostic-array-bounds.*", "out-of-bounds"),
    ("clang-tidy", r"clang-analyzer-.*ArrayBound.*", "out-of-bounds"),
    ("clang-tidy", r"cppcoreguidelines-(no-malloc|owning-memory)", "dynamic-memory"),
    ("clang-tidy", r"clang-analyzer-cplusplus\.(NewDelete.*|PlacementNew)", "dynamic-memory"),
    ("clang-tidy", r"clang-analyzer-unix\.(Malloc.*|MismatchedDeallocator)", "dynamic-memory"),
    ("clang-tidy", r"misc-no-recursion", "recursion"),
    ("clang-tidy", r"clang-diagnostic-infinite-recursion", "recursion"),
    ("clang-tidy", r"bugprone-(infinite-loop|too-small-loop-variable)", "unbounded-loop"),
    ("clang-tidy", r"clang-analyzer-security\.FloatLoopCounter", "unbounded-loop"),
    ("cppcheck", r"uninit.*", "uninitialized-data"),
    (
        "cppcheck",
        r"arrayIndexOutOfBounds.*|negativeIndex|negativeArraySize|outOfBounds"
        r"|bufferAccessOutOfBounds|pointerOutOfBounds.*|arrayIndexThenCheck"
        r"|containerOutOfBounds.*|objectIndex",
        "out-of-bounds",
    ),
    (
        "cppcheck",
        r"memleak.*|leak.*|mismatchAllocDealloc|deallocDealloc|doubleFree"
        r"|deallocuse|hlsDynamicMemory",
        "dynamic-memory",
    ),
    ("cppcheck", r"hlsUnboundedLoop", "unbounded-loop"),
)


def classify(tool: str, check: str, message: str = "") -> str:
    """The HLS rule a tool's finding ``check`` belongs to."""
    for t, pattern, rule in _CLASSES:
        if t == tool and re.fullmatch(pattern, check):
            return rule
    if tool == "clang-tidy" and re.search(r"garbage|uninitiali[sz]ed", message):
        return "uninitialized-data"  # e.g. core.CallAndMessage on an uninitialized argument
    return "analyzer-defect"


@dataclass(frozen=True)
class Finding:
    """One broken rule at one place (``file`` relative to the HLS project folder)."""

    rule: str
    file: str
    line: int
    tool: str
    check: str
    message: str
    column: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.rule}: {self.where}: {self.message} [{self.tool} {self.check}]"


def dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per rule, place and check (template instantiations repeat them), sorted."""
    seen: dict[tuple[str, str, int, str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.rule, f.file, f.line, f.tool, f.check), f)
    return sorted(seen.values(), key=lambda f: (f.file, f.line, f.rule, f.tool, f.check))
