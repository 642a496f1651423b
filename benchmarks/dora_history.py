"""How long `pavedroad dora` takes over a long history: N deployments of `prod` in one period.

A synthetic repository (built with `git fast-import`, so building it takes seconds, not
minutes) holds two commits per deployment, a third of them changing one of 20 tenants' files;
every 10th update fails and the next one ships its commits again; every 25th deployment carries
a `git revert`-style commit of the previous deployment's first commit. The history is written
newest first with a refresh every 50 updates, as `pulumi stack history --json` writes it. The
whole command is timed from outside, as a user runs it (`--json`, one period over everything),
after one warm-up; the median of the runs is printed.

From the repository root:
  .venv/bin/python benchmarks/dora_history.py [--deployments 1000] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
EVERY = timedelta(hours=6)
TENANTS = 20


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FastImport:
    """One `git fast-import` process; `get-mark` answers each commit's id as it is made."""

    def __init__(self, repo: Path) -> None:
        self.process = subprocess.Popen(
            ["git", "-C", str(repo), "fast-import", "--quiet", "--date-format=raw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.mark = 0
        self.parent: int = 0

    def commit(self, when: datetime, message: str, files: dict[str, str]) -> str:
        assert self.process.stdin and self.process.stdout
        self.mark += 1
        who = f"Dev <dev@example.com> {int(when.timestamp())} +0000"
        lines = [
            "commit refs/heads/main",
            f"mark :{self.mark}",
            f"author {who}",
            f"committer {who}",
            f"data {len(message.encode())}",
            message,
        ]
        if self.parent:
            lines.append(f"from :{self.parent}")
        for path, text in files.items():
            lines += [f"M 644 inline {path}", f"data {len(text.encode())}", text]
        lines.append(f"get-mark :{self.mark}")
        self.process.stdin.write("\n".join(lines) + "\n")
        self.process.stdin.flush()
        self.parent = self.mark
        return self.process.stdout.readline().strip()

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.write("done\n")
        self.process.stdin.close()
        self.process.wait()


def build(root: Path, deployments: int) -> tuple[Path, Path]:
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    importer = FastImport(repo)
    files = {"stacks/Pulumi.prod.yaml": "config:\n  paved-road:production: true\n"}
    files |= {f"tenants/team{t:02}.yaml": f"name: team{t:02}\n" for t in range(TENANTS)}
    head = importer.commit(START - timedelta(days=1), "platform", files)
    history: list[dict[str, Any]] = []

    def update(kind: str, result: str, end: datetime, sha: str) -> None:
        history.append(
            {
                "version": len(history) + 1,
                "kind": kind,
                "startTime": _stamp(end - timedelta(minutes=10)),
                "message": f"{kind} {len(history) + 1}",
                "environment": {"git.head": sha},
                "config": {},
                "result": result,
                "endTime": _stamp(end),
                "resourceChanges": {"same": 400, "update": 3},
            }
        )

    update("update", "succeeded", START - timedelta(hours=12), head)
    previous_first = head
    for n in range(deployments):
        end = START + n * EVERY
        changed = f"tenants/team{n % TENANTS:02}/apps.yaml" if n % 3 == 0 else "components/x.py"
        first = importer.commit(end - timedelta(hours=5), f"change {n}", {changed: f"n: {n}\n"})
        message = f"change {n}b"
        if n % 25 == 24:
            message = f'Revert "change"\n\nThis reverts commit {previous_first}.'
        head = importer.commit(end - timedelta(hours=1), message, {"components/y.py": f"{n}\n"})
        previous_first = first
        update("update", "failed" if n % 10 == 9 else "succeeded", end, head)
        if n % 50 == 49:
            update("refresh", "succeeded", end + timedelta(minutes=30), head)
    importer.close()
    subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "main"], check=True)
    file = root / "prod-history.json"
    file.write_text(json.dumps(list(reversed(history)), indent=2))
    return repo, file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, file = build(Path(tmp), args.deployments)
        until = (START + args.deployments * EVERY + timedelta(days=1)).date().isoformat()
        command = [
            sys.executable, "-m", "pavedroad", "dora", "--history", f"prod={file}",
            "--repo", str(repo), "--since", START.date().isoformat(), "--until", until, "--json",
        ]  # fmt: skip
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}
        warm = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        if warm.returncode != 0:
            raise SystemExit(warm.stderr)
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            done = subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - began)
        figures = json.loads(done.stdout)["stacks"]["prod"]
    result = {
        "deployments": figures["deployments"],
        "runs": args.runs,
        "medianSeconds": round(statistics.median(times), 3),
        "figures": figures,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"pavedroad dora over {figures['deployments']} deployments: median "
            f"{result['medianSeconds']:.2f} s of {args.runs} runs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
