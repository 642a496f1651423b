"""Time the offline plan as the platform grows, so a plan that gets slow is noticed before CI is.

Every pull request runs `pavedroad plan` for each stack, and tests run the same engine many
times; its cost is paid over and over. This runs the real program in-process through
`PlanEngine` (the harness the CLI and the tests share) against a temporary copy of the project,
so the checkout is never written to, and reports per stack: resources registered, best and mean
wall time over `--repeat` runs, resources per second, and the process's peak RSS.

Today the platform is the shipped stacks only. `--tenants 10,40,100,500` is the growth axis for
when tenants exist (`tenants/*.yaml` and a `paved-road:tenants` stack key): a later issue only has
to fill in `write_synthetic_tenants`.

Run from the repository root:  .venv/bin/python benchmarks/plan_scale.py [--repeat N] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from pavedroad.engine import PlanEngine, StackFileError  # noqa: E402

PROGRAM = REPO_ROOT / "__main__.py"
# The promotion order, so the table reads dev → prod; any other stack file follows by name.
SHIPPED_STACKS = ("dev", "staging", "prod")
TENANTS_NOT_YET = (
    "--tenants: the platform has no tenants yet (nothing loads tenants/*.yaml and stacks have no "
    "paved-road:tenants key), so there is nothing to scale. Run without --tenants to time the "
    "shipped stacks; the tenants issue fills in write_synthetic_tenants() in "
    "benchmarks/plan_scale.py."
)
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


def tenant_count(project_dir: Path) -> int:
    return len(list((project_dir / "tenants").glob("*.yaml")))


def tenant_loader_found() -> bool:
    """Whether the program can load tenants at all; without a loader, tenants are ignored input and
    timing them would measure nothing."""
    return importlib.util.find_spec("components.tenants") is not None


def write_synthetic_tenants(project_dir: Path, count: int) -> None:
    """Write `count` synthetic tenants into the project copy at `project_dir` (never the checkout).

    A placeholder on purpose: the tenant format (tenants/*.yaml plus the `paved-road:tenants`
    stack key) arrives with a later issue, and this is the one function it has to fill in. Until
    then a benchmark that pretended to scale tenants would report numbers for a platform that
    ignores them.
    """
    raise NotImplementedError(TENANTS_NOT_YET)


def peak_rss_mib() -> float:
    """The process's peak resident memory so far. Linux reports ru_maxrss in KiB, macOS in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def time_stack(stack: str, project_dir: Path, repeat: int) -> tuple[int, list[float]]:
    """Run the plan `repeat` times; the resource count must not change between runs of one input."""
    seconds: list[float] = []
    counts: set[int] = set()
    for _ in range(repeat):
        start = time.perf_counter()
        run = PlanEngine(stack, project_dir, program=PROGRAM).run()
        seconds.append(time.perf_counter() - start)
        counts.add(len(run.resources))
    if len(counts) != 1:
        raise RuntimeError(f"{stack}: resource count changed between runs: {sorted(counts)}")
    return counts.pop(), seconds


def warm_up(stack: str, project_dir: Path) -> float:
    """One untimed-for-the-table run first: it pays for importing Pulumi and the providers' SDKs,
    which would otherwise land on whichever stack happens to run first."""
    start = time.perf_counter()
    PlanEngine(stack, project_dir, program=PROGRAM).run()
    return time.perf_counter() - start


def platform_sizes(tenants: Optional[list[int]]) -> Iterator[Optional[int]]:
    """None is the project as shipped; each number is a copy with that many synthetic tenants."""
    yield from tenants if tenants else [None]


def benchmark(
    stacks: Optional[list[str]], repeat: int, tenants: Optional[list[int]]
) -> dict[str, Any]:
    results: list[Result] = []
    cold_start: Optional[float] = None
    for size in platform_sizes(tenants):
        with tempfile.TemporaryDirectory(prefix="plan-scale-") as temp:
            project_dir = copy_project(Path(temp))
            if size is not None:
                write_synthetic_tenants(project_dir, size)
            selected = stacks or stacks_in(project_dir)
            if cold_start is None:
                cold_start = warm_up(selected[0], project_dir)
            for stack in selected:
                resources, seconds = time_stack(stack, project_dir, repeat)
                best, mean = min(seconds), statistics.fmean(seconds)
                results.append(
                    Result(
                        stack=stack,
                        tenants=tenant_count(project_dir),
                        resources=resources,
                        runs=repeat,
                        best_seconds=round(best, 4),
                        mean_seconds=round(mean, 4),
                        resources_per_second=round(resources / mean, 1),
                        peak_rss_mib=round(peak_rss_mib(), 1),
                    )
                )
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
            f"{report['repeat']} timed runs per stack after one warm-up run "
            f"({report['cold_start_seconds']:.3f} s, imports included); "
            "peak RSS is the process high-water mark after that stack.",
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
        help="platform sizes to time, e.g. 10,40,100,500 (needs tenants, which do not exist yet)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.tenants and not tenant_loader_found():
        print(f"plan_scale: {TENANTS_NOT_YET}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from components.config import ConfigError

    try:
        report = benchmark(args.stacks, args.repeat, args.tenants)
    except NotImplementedError as error:
        print(f"plan_scale: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ConfigError, StackFileError) as error:
        print(f"plan_scale: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(report, indent=2) if args.json else render_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
