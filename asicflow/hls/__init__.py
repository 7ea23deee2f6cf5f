"""HLS C++ generation (IR -> ac_fixed C++ project) and C simulation helpers."""

from asicflow.hls.cxx import ac_include_dir, ac_version, compile_argv, read_trace
from asicflow.hls.writer import (
    Project,
    kernel_headers,
    loops,
    read_project,
    templates,
    write_params,
    write_project,
)

__all__ = [
    "Project",
    "ac_include_dir",
    "ac_version",
    "compile_argv",
    "kernel_headers",
    "loops",
    "read_project",
    "read_trace",
    "templates",
    "write_params",
    "write_project",
]
