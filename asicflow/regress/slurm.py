"""The Slurm driver: Slurm's own commands, no client library.

``sbatch --wait`` submits one point as a batch job and returns when the job ends, with the
job's exit code, so a thread per running point is the whole scheduler; the job id comes from
``--parsable``. Chosen over submitit (which pickles Python callables onto the cluster and
needs the same Python there) and dask-jobqueue (a long-lived scheduler process) because a
point is already a command line (doit on a flow file on the shared filesystem), which is what
sbatch runs, and a cluster user can read and replay the exact sbatch line from
``commands.sh``. Accounting (``sacct``) is not needed: the exit code and the job's own output
file tell the result. The names follow SiliconCompiler's scheduler options as used by
``pnr.scheduler: slurm`` / ``pnr.queue`` (queue = partition).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from asicflow.runner import ToolResult, run_tool, which

HINT = (
    "Install Slurm's client commands (Debian: slurm-client) on this machine and point "
    "SLURM_CONF at the cluster's slurm.conf; for a single-node cluster here: "
    "bash scripts/slurm_local.sh start"
)


def sbatch_argv(
    command: Sequence[str], job_name: str, output: Path, partition: str, minutes: float
) -> list[str]:
    argv = [
        which("sbatch", HINT),
        "--wait",
        "--parsable",
        f"--job-name={job_name}",
        f"--output={output}",
        f"--time={max(1, int(minutes))}",
        "--cpus-per-task=1",
    ]
    if partition:
        argv.append(f"--partition={partition}")
    return [*argv, f"--wrap={shlex.join(command)}"]


def submit_and_wait(
    command: Sequence[str],
    job_name: str,
    work: Path,
    env: Mapping[str, str],
    partition: str,
    minutes: float,
) -> tuple[ToolResult, str]:
    """Run ``command`` as one Slurm job from ``work`` with ``env`` added to this process's
    environment (sbatch exports it to the job); (sbatch's result, the job id)."""
    out = work / "slurm-job.out"
    argv = sbatch_argv(command, job_name, out, partition, minutes)
    result = run_tool(
        argv,
        log=work / "run.log",
        cwd=work,
        env=env,
        timeout=minutes * 60 + 120,
        check=False,
        tool="sbatch",
    )
    job_id = ""
    for line in result.log.read_text(errors="replace").splitlines():
        head = line.strip().split(";")[0]
        if head.isdigit():
            job_id = head
    return result, job_id
