"""clang-tidy: command line and its exported diagnostics (``--export-fixes`` YAML).

clang-tidy compiles the design for real (ac_types as system headers), so the clang static
analyzer follows the template instantiations into ac_fixed. A path-sensitive finding that ends
inside ac_types (e.g. a garbage value added in ``ac_int.h``) is filed at the last step of its
path that lies in the design, where the design hands over the bad value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from asicflow.checks.findings import Finding, classify

TOOL = "clang-tidy"
HINT = "Install it: apt-get install clang-tidy (Debian 12 ships 14; scripts/setup.sh does it)."
CHECKS = (
    "-*",
    "clang-analyzer-core.*",
    "clang-analyzer-cplusplus.*",
    "clang-analyzer-unix.*",
    "clang-analyzer-security.FloatLoopCounter",
    "misc-no-recursion",
    "cppcoreguidelines-no-malloc",
    "cppcoreguidelines-owning-memory",
    "cppcoreguidelines-init-variables",
    "bugprone-infinite-loop",
    "bugprone-too-small-loop-variable",
)
# Compiler warnings that are HLS rules (clang reports them as clang-diagnostic-*).
WARNINGS = ("-Wuninitialized", "-Warray-bounds", "-Winfinite-recursion")
BASE_FLAGS = ("-Wno-unknown-pragmas", "-Wno-unused-label")


def argv(
    clang_tidy: str,
    source: str,
    includes: list[str],
    system_includes: list[str],
    defines: list[str],
    export: str,
    std: str = "c++17",
) -> list[str]:
    """Analyze ``source`` with :data:`CHECKS`; diagnostics go to the YAML file ``export``."""
    # --config (not a .clang-tidy found above the build folder) fixes every setting.
    config = json.dumps(
        {"Checks": ",".join(CHECKS), "WarningsAsErrors": "", "HeaderFilterRegex": ".*"}
    )
    return [
        clang_tidy,
        f"--config={config}",
        f"--export-fixes={export}",
        "--quiet",
        source,
        "--",
        "-x",
        "c++",
        f"-std={std}",
        *BASE_FLAGS,
        *WARNINGS,
        *defines,
        *(f"-I{i}" for i in includes),
        *(a for i in system_includes for a in ("-isystem", str(i))),
    ]


class _Lines:
    """Byte offset -> (line, column) for the files the diagnostics point into."""

    def __init__(self) -> None:
        self.starts: dict[Path, list[int]] = {}

    def at(self, path: Path, offset: int) -> tuple[int, int]:
        if path not in self.starts:
            data = path.read_bytes()
            self.starts[path] = [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A]
        starts = self.starts[path]
        lo, hi = 0, len(starts) - 1
        while lo < hi:  # last line start <= offset
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - starts[lo] + 1


def _place(entry: dict[str, Any], base: Path, root: Path) -> tuple[Path, str] | None:
    """The file of a diagnostic or note, and its path relative to ``root`` (None: outside)."""
    spelled = entry.get("FilePath") or ""
    if not spelled:
        return None
    path = (base / spelled).resolve()
    try:
        return path, path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def parse_export(export: Path, root: Path) -> tuple[list[Finding], list[str]]:
    """Findings in files under ``root``, and notes on diagnostics with no place in the design."""
    if not export.exists():  # clang-tidy writes the file only when it has something to say
        return [], []
    data = yaml.safe_load(export.read_text()) or {}
    lines = _Lines()
    findings: list[Finding] = []
    notes: list[str] = []
    for diag in data.get("Diagnostics") or []:
        check = diag.get("DiagnosticName", "?")
        main = diag.get("DiagnosticMessage") or {}
        message = main.get("Message", "")
        base = Path(diag.get("BuildDirectory") or ".")
        entry, via = main, ""
        where = _place(main, base, root)
        if where is None:  # ends outside the design: the last step of its path inside it
            for note in reversed(diag.get("Notes") or []):
                where = _place(note, base, root)
                if where is not None:
                    entry = note
                    via = (
                        f" (reached from here: {note.get('Message', '')}; the defect shows "
                        f"in {Path(main.get('FilePath') or '?').name})"
                    )
                    break
        if where is None and diag.get("Level") == "Error":  # e.g. the design does not compile
            spelled = main.get("FilePath") or "(command line)"
            path = (base / spelled) if main.get("FilePath") else None
            line = (
                lines.at(path, int(main.get("FileOffset", 0)))[0] if path and path.is_file() else 0
            )
            findings.append(Finding("analyzer-defect", spelled, line, TOOL, check, message))
            continue
        if where is None:
            notes.append(f"clang-tidy {check} outside the design: {message}")
            continue
        path, rel = where
        line, col = lines.at(path, int(entry.get("FileOffset", 0)))
        findings.append(
            Finding(classify(TOOL, check, message), rel, line, TOOL, check, message + via, col)
        )
    return findings, notes
