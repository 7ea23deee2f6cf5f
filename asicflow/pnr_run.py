"""Run the pnr step's SiliconCompiler project in a child process.

``python -m asicflow.pnr_run request.json result.json`` (run in the step folder): builds the
project from the request (:mod:`asicflow.sc_project`), runs it, and writes the verdict to
``result.json``; SiliconCompiler's own log goes to stdout, i.e. into the step log. Exit code 0
when the run succeeded, 1 when it did not (the verdict says why), 2 on bad usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m asicflow.pnr_run REQUEST.json RESULT.json\n")
        return 2
    from asicflow.errors import ConfigError
    from asicflow.steps.pnr import PnrRequest

    req = PnrRequest.read(Path(argv[0]))
    out = Path(argv[1])
    try:
        from asicflow import sc_project

        proj = sc_project.build_project(req)
        verdict = sc_project.run_project(proj, Path(req.pdk_root))
    except ConfigError as exc:
        verdict = {"status": "config", "source": exc.source, "problems": exc.problems}
    else:
        verdict = sc_project.relative_to_cwd(verdict)
    out.write_text(json.dumps(verdict, indent=1, sort_keys=True, default=str) + "\n")
    return 0 if verdict["status"] == "ok" else 1


if __name__ == "__main__":
    from asicflow.cli import child_entry

    child_entry(main)
