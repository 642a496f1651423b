"""`pavedroad plan` against its peer, EKS Blueprints' `cdk synth`, at the same size, side by side.

Both are whole commands as a user runs them, timed from outside: `python -m pavedroad plan` with
every check it runs (Kubernetes schemas, every policy rule, both plan files written) on a
temporary copy of this project with N synthetic tenants (the generator of plan_scale.py), and
`cdk synth` of the peer app in benchmarks/peer/ with N application teams. They run in turn,
A B A B …, after one warm-up each, so a machine that speeds up or slows down affects both; the
ratio is taken pair by pair and its median printed with each command's median.

The peer is one CloudFormation stack: past about 45 teams `cdk synth` fails on the
500-resources-per-stack limit, so compare at 45 tenants or fewer (plan_scale.py times the plan
alone at any size).

The copy's modules are byte-compiled once before the runs, by the interpreter that runs the plan:
the state after a user's first `pavedroad plan`, and the state pip leaves the SDKs in. Python
writes that cache itself unless PYTHONDONTWRITEBYTECODE is set (as on this project's development
machines), where every run would otherwise compile the project's own modules again; `--no-compile`
measures that case. The peer's JavaScript is compiled by Node on every run either way.

Needs the peer installed once (npm reaches only the registry):
  (cd benchmarks/peer && npm ci)
Then, from the repository root:
  .venv/bin/python benchmarks/side_by_side.py [--tenants 40] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
PEER_DIR = REPO_ROOT / "benchmarks" / "peer"
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

from plan_scale import byte_compile, write_synthetic_tenants  # noqa: E402

# What the plan reads and runs; build output and the virtualenv stay behind.
_NOT_COPIED = (".git", ".venv", "build", "node_modules", "cdk.out", "__pycache__", ".pytest_cache")


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float


@dataclass(frozen=True)
class Summary:
    tenants: int
    runs: int
    plan_median_seconds: float
    synth_median_seconds: float
    ratio_median: float
    ratio_min: float
    ratio_max: float
    plan_peak_rss_mib: float
    synth_peak_rss_mib: float


def copy_project(destination: Path, tenants: int) -> Path:
    """The whole project (code, stacks, policies) with `tenants` synthetic tenants in every stack."""
    shutil.copytree(REPO_ROOT, destination, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    write_synthetic_tenants(destination, tenants)
    return destination


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> Run:
    """One run of `command`: its wall time, and the CPU time and peak memory the operating
    system accounted to it (its own process and the children it waited for)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-2000:].decode(errors="replace")
            raise SystemExit(f"{' '.join(command)} (in {cwd}) exited {process.returncode}:\n{tail}")
    # ru_maxrss: the largest process of the tree (KiB on Linux, bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / scale)


def plan_command(python: str) -> list[str]:
    return [python, "-m", "pavedroad", "plan", "dev"]


def synth_command() -> list[str]:
    cdk = PEER_DIR / "node_modules" / ".bin" / "cdk"
    if not cdk.exists():
        raise SystemExit(f"{cdk}: not installed; run `npm ci` in {PEER_DIR} first")
    # The cdk binary itself (npx would add its own start-up); the cloud assembly only, no
    # template echoed to the terminal, no notices or version check over the network.
    return [str(cdk), "synth", "--quiet", "--no-notices"]


def compare(tenants: int, runs: int, python: str, compiled: bool = True) -> Summary:
    peer_env = {
        **os.environ,
        "PEER_TEAMS": str(tenants),
        "CDK_DISABLE_VERSION_CHECK": "1",
        # Offline and without credentials: the account and region are fixed in app.js and the
        # availability zones come from cdk.context.json.
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_PROFILE": "",
    }
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as temp:
        project = copy_project(Path(temp) / "project", tenants)
        if compiled:
            byte_compile(project, python)
        plan_env = {**os.environ}
        plans: list[Run] = []
        synths: list[Run] = []
        for attempt in range(runs + 1):  # the first pair warms caches and is not counted
            plan = timed(plan_command(python), project, plan_env)
            synth = timed(synth_command(), PEER_DIR, peer_env)
            if attempt:
                plans.append(plan)
                synths.append(synth)
    ratios = [p.seconds / s.seconds for p, s in zip(plans, synths)]
    return Summary(
        tenants=tenants,
        runs=runs,
        plan_median_seconds=round(statistics.median(r.seconds for r in plans), 3),
        synth_median_seconds=round(statistics.median(r.seconds for r in synths), 3),
        ratio_median=round(statistics.median(ratios), 3),
        ratio_min=round(min(ratios), 3),
        ratio_max=round(max(ratios), 3),
        plan_peak_rss_mib=round(max(r.peak_rss_mib for r in plans), 1),
        synth_peak_rss_mib=round(max(r.peak_rss_mib for r in synths), 1),
    )


def render(summary: Summary) -> str:
    return "\n".join(
        [
            f"{summary.tenants} tenants / teams, {summary.runs} alternating runs each "
            "(after one warm-up pair), wall time:",
            f"  pavedroad plan dev   median {summary.plan_median_seconds:.3f} s",
            f"  cdk synth (peer)     median {summary.synth_median_seconds:.3f} s",
            f"  ratio plan/synth     median {summary.ratio_median:.3f} "
            f"(min {summary.ratio_min:.3f}, max {summary.ratio_max:.3f}, pair by pair)",
            f"  peak memory          plan {summary.plan_peak_rss_mib:.0f} MiB, "
            f"synth {summary.synth_peak_rss_mib:.0f} MiB (largest process)",
            "",
            "A ratio below 1 means the offline plan, with its schema and policy checks, is faster "
            "than the peer's synth.",
        ]
    )


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number: {text!r}")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=positive, default=40, help="tenants and teams (40)")
    parser.add_argument("--runs", type=positive, default=5, help="counted runs of each (5)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter that runs the plan (default: this one, e.g. .venv/bin/python)",
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="leave the copy's modules uncompiled (each run compiles them, as under "
        "PYTHONDONTWRITEBYTECODE)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    summary = compare(args.tenants, args.runs, args.python, compiled=not args.no_compile)
    print(json.dumps(asdict(summary), indent=2) if args.json else render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
