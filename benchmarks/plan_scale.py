"""Time the offline plan as the platform grows, so a plan that gets slow is noticed before CI is.

Every pull request runs `pavedroad plan` for each stack, and tests run the same engine many
times; its cost is paid over and over. This runs the real program in-process through
`PlanEngine` (the harness the CLI and the tests share) against a temporary copy of the project,
so the checkout is never written to, and reports per stack: resources registered, best and mean
wall time over `--repeat` runs, resources per second, and the process's peak RSS.

`--tenants 10,40,100,500` grows the platform: each size is a copy of the project whose stacks run
that many synthetic tenants (a realistic mix: some with two namespaces, some admitting callers),
planned in a fresh process so each size's peak memory is its own.

Run from the repository root:
  .venv/bin/python benchmarks/plan_scale.py [--repeat N] [--stacks dev] [--tenants 10,40] [--json]
  .venv/bin/python benchmarks/plan_scale.py --cli --stacks dev --tenants 10,40,100,500 --repeat 1
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pavedroad.engine import PlanEngine, StackFileError  # noqa: E402

PROGRAM = REPO_ROOT / "__main__.py"
# The promotion order, so the table reads dev → prod; any other stack file follows by name.
SHIPPED_STACKS = ("dev", "staging", "prod")
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class Result:
    """One stack at one platform size: what a reader compares across commits."""

    stack: str
    tenants: int
    resources: int
    runs: int
    best_seconds: float
    mean_seconds: float
    resources_per_second: float
    peak_rss_mib: float


def stacks_in(project_dir: Path) -> list[str]:
    """The stacks that have a stack file, shipped ones first in promotion order."""
    found = {
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in (project_dir / "stacks").glob("Pulumi.*.yaml")
    }
    return [s for s in SHIPPED_STACKS if s in found] + sorted(found - set(SHIPPED_STACKS))


def copy_project(destination: Path) -> Path:
    """Copy what the plan reads (Pulumi.yaml, stacks/, tenants/) so nothing lands in the checkout.

    The program's code is not copied: `PlanEngine` runs the checkout's `__main__.py`, which is the
    code under test; only the inputs a benchmark may rewrite (synthetic tenants) are copied.
    """
    shutil.copy2(REPO_ROOT / "Pulumi.yaml", destination / "Pulumi.yaml")
    shutil.copytree(REPO_ROOT / "stacks", destination / "stacks")
    if (REPO_ROOT / "tenants").is_dir():
        shutil.copytree(REPO_ROOT / "tenants", destination / "tenants")
    return destination


def tenant_count(project_dir: Path, stack: str) -> int:
    config = yaml.safe_load((project_dir / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return len(config.get("paved-road:tenants") or [])


def write_synthetic_tenants(project_dir: Path, count: int) -> None:
    """Make every stack of the project copy at `project_dir` run `count` synthetic tenants.

    The mix follows the sample tenants: every fourth tenant has a second namespace, every third
    admits calls from the tenant before it, all have owners and developers (access entries).
    """
    tenants_dir = project_dir / "tenants"
    shutil.rmtree(tenants_dir, ignore_errors=True)
    tenants_dir.mkdir()
    names = [f"team-{index:04d}" for index in range(count)]
    for index, name in enumerate(names):
        document: dict[str, Any] = {
            "name": name,
            "costCenter": f"cc-{index:04d}",
            "owners": [f"arn:aws:iam::123456789012:role/{name}-admins"],
            "developers": [f"arn:aws:iam::123456789012:role/{name}-devs"],
            "quota": {"cpu": "4", "memory": "8Gi", "pods": 50},
            "repositories": [f"https://github.com/acme/{name}"],
        }
        if index % 4 == 0:
            document["namespaces"] = [name, f"{name}-jobs"]
        if index % 3 == 0 and index > 0:
            document["network"] = {"allowFrom": [names[index - 1]]}
        (tenants_dir / f"{name}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    for stack_file in (project_dir / "stacks").glob("Pulumi.*.yaml"):
        stack = yaml.safe_load(stack_file.read_text())
        stack["config"]["paved-road:tenants"] = names
        stack_file.write_text(yaml.safe_dump(stack, sort_keys=False))


def peak_rss_mib() -> float:
    """The process's peak resident memory so far. Linux reports ru_maxrss in KiB, macOS in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def time_stack(stack: str, project_dir: Path, repeat: int) -> tuple[int, list[float], float]:
    """Run the plan `repeat` times; the resource count must not change between runs of one input.

    Also returns the peak memory after the first run: what one `pavedroad plan` needs.
    """
    seconds: list[float] = []
    counts: set[int] = set()
    first_peak = 0.0
    for attempt in range(repeat):
        start = time.perf_counter()
        run = PlanEngine(stack, project_dir, program=PROGRAM).run()
        seconds.append(time.perf_counter() - start)
        counts.add(len(run.resources))
        del run
        if attempt == 0:
            first_peak = peak_rss_mib()
    if len(counts) != 1:
        raise RuntimeError(f"{stack}: resource count changed between runs: {sorted(counts)}")
    return counts.pop(), seconds, first_peak


def warm_up(stack: str, project_dir: Path) -> float:
    """One untimed-for-the-table run first: it pays for importing Pulumi and the providers' SDKs,
    which would otherwise land on whichever stack happens to run first."""
    start = time.perf_counter()
    PlanEngine(stack, project_dir, program=PROGRAM).run()
    return time.perf_counter() - start


def platform_sizes(tenants: Optional[list[int]]) -> Iterator[Optional[int]]:
    """None is the project as shipped; each number is a copy with that many synthetic tenants."""
    yield from tenants if tenants else [None]


def measure_size(size: Optional[int], stacks: Optional[list[str]], repeat: int) -> list[Result]:
    """Plan every selected stack at one platform size (run in its own process)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as temp:
        project_dir = copy_project(Path(temp))
        if size is not None:
            write_synthetic_tenants(project_dir, size)
        for stack in stacks or stacks_in(project_dir):
            resources, seconds, peak = time_stack(stack, project_dir, repeat)
            best, mean = min(seconds), statistics.fmean(seconds)
            results.append(
                Result(
                    stack=stack,
                    tenants=tenant_count(project_dir, stack),
                    resources=resources,
                    runs=repeat,
                    best_seconds=round(best, 4),
                    mean_seconds=round(mean, 4),
                    resources_per_second=round(resources / mean, 1),
                    peak_rss_mib=round(peak, 1),
                )
            )
    return results


def timed_command(command: list[str], cwd: Path) -> tuple[float, float]:
    """One run of a whole command: its wall seconds, and the peak memory in MiB of the largest
    process of its tree (the operating system's own accounting of the finished process)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            tail = errors.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"{' '.join(command)} (in {cwd}) failed:\n{tail}")
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # KiB on Linux, bytes on macOS
    return seconds, usage.ru_maxrss / scale


def byte_compile(project: Path, python: str) -> None:
    """Compile the project's modules for `python`'s version, as a user's first run does (unless
    PYTHONDONTWRITEBYTECODE is set) and as pip does for the installed SDKs."""
    subprocess.run(
        [python, "-m", "compileall", "-q", str(project)], check=True, stdout=subprocess.DEVNULL
    )


def measure_cli_size(
    size: Optional[int], stacks: Optional[list[str]], repeat: int, python: str
) -> list[Result]:
    """Time `python -m pavedroad plan STACK` as a user runs it (schema and policy checks, files
    written) on a full copy of the project at one platform size."""
    results = []
    with tempfile.TemporaryDirectory(prefix="plan-scale-cli-") as temp:
        project_dir = Path(temp) / "project"
        shutil.copytree(REPO_ROOT, project_dir, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        if size is not None:
            write_synthetic_tenants(project_dir, size)
        byte_compile(project_dir, python)
        for stack in stacks or stacks_in(project_dir):
            command = [python, "-m", "pavedroad", "plan", stack]
            timed_command(command, project_dir)  # warm-up: file caches
            runs = [timed_command(command, project_dir) for _ in range(repeat)]
            seconds = [wall for wall, _ in runs]
            plan = json.loads((project_dir / "build" / stack / "plan.json").read_text())
            mean = statistics.fmean(seconds)
            results.append(
                Result(
                    stack=stack,
                    tenants=tenant_count(project_dir, stack),
                    resources=len(plan["resources"]),
                    runs=repeat,
                    best_seconds=round(min(seconds), 4),
                    mean_seconds=round(mean, 4),
                    resources_per_second=round(len(plan["resources"]) / mean, 1),
                    peak_rss_mib=round(max(peak for _, peak in runs), 1),
                )
            )
    return results


_NOT_COPIED = (".git", ".venv", "build", "node_modules", "cdk.out", "__pycache__", ".pytest_cache")


def benchmark_cli(
    stacks: Optional[list[str]], repeat: int, tenants: Optional[list[int]], python: str
) -> dict[str, Any]:
    results: list[Result] = []
    for size in platform_sizes(tenants):
        results.extend(measure_cli_size(size, stacks, repeat, python))
    return {
        "python": platform.python_version(),
        "repeat": repeat,
        "cli": True,
        "results": [asdict(r) for r in results],
    }


def benchmark(
    stacks: Optional[list[str]], repeat: int, tenants: Optional[list[int]]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as temp:
        project_dir = copy_project(Path(temp))
        cold_start = warm_up((stacks or stacks_in(project_dir))[0], project_dir)
    results: list[Result] = []
    # A fresh process per size (forked after the imports above): its peak memory is that size's.
    context = multiprocessing.get_context("fork")
    for size in platform_sizes(tenants):
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            results.extend(pool.submit(measure_size, size, stacks, repeat).result())
    return {
        "python": platform.python_version(),
        "repeat": repeat,
        "cold_start_seconds": round(cold_start or 0.0, 4),
        "results": [asdict(r) for r in results],
    }


def render_table(report: dict[str, Any]) -> str:
    header = ("stack", "tenants", "resources", "best s", "mean s", "res/s", "peak RSS MiB")
    rows = [
        (
            r["stack"],
            str(r["tenants"]),
            str(r["resources"]),
            f"{r['best_seconds']:.3f}",
            f"{r['mean_seconds']:.3f}",
            f"{r['resources_per_second']:.1f}",
            f"{r['peak_rss_mib']:.1f}",
        )
        for r in report["results"]
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:]))])

    return "\n".join(
        [
            line(header),
            line(tuple("-" * w for w in widths)),
            *(line(row) for row in rows),
            "",
            (
                (
                    f"{report['repeat']} timed runs per stack of the whole `pavedroad plan` command "
                    "after one warm-up run each; peak RSS is the largest process of a run."
                )
                if report.get("cli")
                else (
                    f"{report['repeat']} timed runs per stack after one warm-up run "
                    f"({report['cold_start_seconds']:.3f} s, imports included); peak RSS is that of "
                    "a fresh process after one plan of that size (what one `pavedroad plan` needs)."
                )
            ),
        ]
    )


def positive_ints(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 10,40,100: {text!r}") from None
    if not numbers or any(n < 1 for n in numbers):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 10,40,100: {text!r}")
    return numbers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per stack (default: 3)")
    parser.add_argument(
        "--stacks",
        type=lambda text: [s for s in text.split(",") if s],
        help="comma-separated stacks (default: every stacks/Pulumi.*.yaml)",
    )
    parser.add_argument(
        "--tenants",
        type=positive_ints,
        help="platform sizes to time: synthetic tenants per stack, e.g. 10,40,100,500",
    )
    parser.add_argument(
        "--cli",
        action="store_true",
        help="time the whole `python -m pavedroad plan` command (checks and files included) "
        "in a fresh process per run, instead of the plan engine in-process",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    from components.config import ConfigError

    try:
        if args.cli:
            report = benchmark_cli(args.stacks, args.repeat, args.tenants, sys.executable)
        else:
            report = benchmark(args.stacks, args.repeat, args.tenants)
    except (ConfigError, StackFileError) as error:
        print(f"plan_scale: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(report, indent=2) if args.json else render_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
