"""This repository's own GitHub workflows (.github/workflows/): actionlint, pinned actions, no
privileged trigger running pull-request code, least privilege, the deploy order, and the plan
comment and drift report they post, produced by running the same commands the workflows run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pavedroad import drift
from pavedroad.pr_comment import MARKER
from tests.conftest import ROOT, SHIPPED_STACKS, stack_config
from tests.test_pipeline_skeletons import node, unpinned

WORKFLOWS = ROOT / ".github" / "workflows"
ALL = sorted(WORKFLOWS.glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True; GitHub reads it as the trigger.
    document["on"] = document.pop(True, document.get("on"))
    return document


def test_the_workflows_exist() -> None:
    names = {p.name for p in ALL}
    assert {
        "plan.yml",
        "preview.yml",
        "deploy.yml",
        "drift.yml",
        "freshness.yml",
        "dora.yml",
    } <= names


# --------------------------------------------------------------------------------------------------
# actionlint, pinning, triggers


def test_every_workflow_passes_actionlint() -> None:
    result = node("lint", *map(str, ALL))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    text = (WORKFLOWS / "plan.yml").read_text()
    broken = text.replace("${{ github.event.pull_request.number }}", "${{ gthub.number }}", 1)
    broken = broken.replace("    runs-on: ubuntu-latest\n", "", 1)
    path = tmp_path / "plan.yml"
    path.write_text(broken)
    result = node("lint", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    messages = " ".join(f["message"] for f in json.loads(result.stdout)["findings"])
    assert '"gthub"' in messages and "runs-on" in messages


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    text = path.read_text()
    assert "uses:" in text
    assert unpinned(text) == []


def test_an_unpinned_action_is_found() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text()
    tagged = re.sub(r"pulumi/actions@[0-9a-f]{40} # v7\.0\.0", "pulumi/actions@v7", text, count=1)
    assert unpinned(tagged) == ["pulumi/actions@v7"]


PRIVILEGED = {"pull_request_target", "workflow_run"}
PR_CODE = re.compile(
    r"github\.event\.pull_request\.head\.|github\.head_ref|workflow_run\.head_(sha|branch)|"
    r"refs/pull/|merge_commit_sha"
)


def untrusted_checkouts(document: dict[str, Any]) -> list[str]:
    """Checkouts of pull-request code in a workflow started by a privileged trigger (one that runs
    with the base repository's token and secrets whatever the pull request's origin)."""
    triggers = document["on"]
    names = {triggers} if isinstance(triggers, str) else set(triggers)
    if not names & PRIVILEGED:
        return []
    found = []
    for job_name, job in document.get("jobs", {}).items():
        for step in job.get("steps", []):
            if "actions/checkout" in step.get("uses", ""):
                settings = json.dumps(step.get("with", {}))
                if PR_CODE.search(settings):
                    found.append(f"{job_name}: checkout {settings}")
            if "gh pr checkout" in step.get("run", "") or "git fetch" in step.get("run", ""):
                found.append(f"{job_name}: {step['run'].splitlines()[0]}")
    return found


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_privileged_trigger_checks_out_pull_request_code(path: Path) -> None:
    assert untrusted_checkouts(load(path.name)) == []


def test_a_pull_request_target_checkout_of_the_head_is_found() -> None:
    document = load("plan.yml")
    document["on"] = {"pull_request_target": None}
    assert untrusted_checkouts(document) == []  # plan.yml checks out the default ref…
    steps = document["jobs"]["plan"]["steps"]
    steps[0]["with"]["ref"] = "${{ github.event.pull_request.head.sha }}"
    assert len(untrusted_checkouts(document)) == 1  # …and with the head's, it is refused
    document["on"] = {"pull_request": None}
    assert untrusted_checkouts(document) == []  # the same checkout without the privilege is fine


def test_no_workflow_is_triggered_by_pull_request_target() -> None:
    assert [p.name for p in ALL if "pull_request_target" in load(p.name)["on"]] == []


# --------------------------------------------------------------------------------------------------
# Permissions and the order of things


def test_plan_runs_on_every_pull_request_with_minimal_permissions_and_no_secrets() -> None:
    document = load("plan.yml")
    assert document["on"] == {"pull_request": None}
    assert document["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert all("permissions" not in job for job in document["jobs"].values())
    assert all("if" not in job for job in document["jobs"].values())  # forks included
    assert "secrets." not in (WORKFLOWS / "plan.yml").read_text()
    # GitHub's hosted runner, fresh per job: a fork's code never runs on a self-hosted runner.
    assert [job["runs-on"] for job in document["jobs"].values()] == ["ubuntu-latest"]


def test_plan_calls_the_comment_module_and_fails_after_posting() -> None:
    steps = load("plan.yml")["jobs"]["plan"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    plan_step = next(s for s in steps if s.get("id") == "plan")
    assert "-m pavedroad.pr_comment" in plan_step["run"]
    post = names.index("Post or update the comment")
    assert names.index("Fail when a head plan failed") > post
    assert "-m pavedroad.sticky_comment" in steps[post]["run"]
    checkouts = [s["with"] for s in steps if "actions/checkout" in s.get("uses", "")]
    assert [c["path"] for c in checkouts] == ["head", "base"]
    assert checkouts[1]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert all(c["persist-credentials"] is False for c in checkouts)


def test_the_fork_comment_workflow_runs_no_pull_request_code() -> None:
    document = load("plan-comment.yml")
    assert document["permissions"] == {}
    job = document["jobs"]["comment"]
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert "head_repository.full_name != github.repository" in job["if"]
    checkout = next(s for s in job["steps"] if "actions/checkout" in s.get("uses", ""))
    assert "ref" not in checkout.get("with", {})  # the default branch


def test_preview_runs_only_on_pull_requests_from_this_repository() -> None:
    document = load("preview.yml")
    assert document["on"] == {"pull_request": None}
    assert document["permissions"] == {}
    jobs = document["jobs"]
    assert set(jobs) == {"preview", "preview-prod"}
    stacks = []
    for job in jobs.values():
        assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
        assert job["permissions"] == {
            "contents": "read",
            "pull-requests": "write",
            "id-token": "write",
        }
        pulumi = next(s["with"] for s in job["steps"] if "pulumi/actions" in s.get("uses", ""))
        assert pulumi["command"] == "preview"
        assert pulumi["diff"] is True and pulumi["comment-on-pr"] is True
        assert pulumi["policyPacks"] == "policies"
        aws = next(
            s["with"] for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")
        )
        assert aws["role-to-assume"].endswith("-pipeline")
        assert not {"aws-access-key-id", "aws-secret-access-key"} & set(aws)
        stacks += job.get("strategy", {}).get("matrix", {}).get("stack", [pulumi["stack-name"]])
    assert sorted(stacks) == SHIPPED_STACKS
    # Pull requests may assume a non-production stack's role (bootstrap trusts their OIDC subject);
    # a production stack's role trusts only its environment, so its preview runs in it.
    production = [s for s in SHIPPED_STACKS if stack_config(s)["paved-road:production"]]
    assert production == ["prod"]
    assert sorted(jobs["preview"]["strategy"]["matrix"]["stack"]) == sorted(
        set(SHIPPED_STACKS) - set(production)
    )
    assert "environment" not in jobs["preview"]
    assert jobs["preview-prod"]["environment"] == "prod"
    assert jobs["preview"]["runs-on"][-1] == "paved-road-${{ matrix.stack }}"
    assert '"paved-road-prod"' in jobs["preview-prod"]["runs-on"]


def test_deploy_goes_dev_staging_prod_one_update_per_stack_at_a_time() -> None:
    document = load("deploy.yml")
    assert document["on"] == {"push": {"branches": ["main"]}}
    assert document["permissions"] == {}
    jobs = document["jobs"]
    assert list(jobs) == ["dev", "staging", "prod"] and sorted(jobs) == SHIPPED_STACKS
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev" and jobs["prod"]["needs"] == "staging"
    for stack, job in jobs.items():
        assert "if" not in job  # the default success(): a failed stack stops the chain
        assert job["environment"] == stack
        # A runner the stack's API admits (inside its VPC for staging and prod).
        assert f'"paved-road-{stack}"' in job["runs-on"]
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        pulumi = next(s["with"] for s in job["steps"] if "pulumi/actions" in s.get("uses", ""))
        assert pulumi["command"] == "up" and pulumi["stack-name"] == stack
        assert pulumi["policyPacks"] == "policies"
        aws = next(
            s["with"] for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")
        )
        assert aws["role-to-assume"].endswith(f":role/paved-road-{stack}-pipeline")
    assert jobs["prod"]["steps"][-1]["with"]["policyPackConfigs"] == "policies/config/prod.json"


def test_drift_runs_nightly_per_stack_with_the_stacks_concurrency_group() -> None:
    document = load("drift.yml")
    assert "schedule" in document["on"] and "workflow_dispatch" in document["on"]
    job = document["jobs"]["drift"]
    assert job["permissions"] == {"contents": "read", "issues": "write", "id-token": "write"}
    assert sorted(job["strategy"]["matrix"]["stack"]) == SHIPPED_STACKS
    assert job["concurrency"]["group"] == "pulumi-${{ matrix.stack }}"
    script = "\n".join(s.get("run", "") for s in job["steps"])
    assert "pulumi preview" in script and "--refresh --expect-no-changes --json" in script
    assert "-m pavedroad.drift" in script


def test_dora_runs_monthly_over_the_whole_history_of_prod() -> None:
    document = load("dora.yml")
    assert document["on"]["schedule"] == [{"cron": "0 6 1 * *"}]
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["environment"] == "prod"
    steps = job["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "pulumi stack history --stack prod --json --page-size" in runs
    assert "python -m pavedroad dora --history" in runs and "--json" in runs
    assert "GITHUB_STEP_SUMMARY" in runs


def test_catalog_freshness_writes_only_on_this_repositorys_portal_branches() -> None:
    jobs = load("freshness.yml")["jobs"]
    assert jobs["catalog"]["permissions"] == {"contents": "read"}
    runs = {step.get("name"): step.get("run", "") for step in jobs["catalog"]["steps"]}
    assert "make catalog" in runs["python -m pavedroad catalog --check"]
    assert "make codeowners" in runs["python -m pavedroad codeowners --check"]
    portal = jobs["catalog-portal"]
    assert "head.repo.full_name == github.repository" in portal["if"]
    assert "startsWith(github.head_ref, 'portal/')" in portal["if"]
    assert "github.event_name == 'pull_request'" in portal["if"]
    assert portal["permissions"] == {"contents": "read"}  # the push uses the App's token
    assert "git add -- catalog .github/CODEOWNERS" in portal["steps"][-1]["run"]
    assert "python -m pavedroad codeowners\n" in portal["steps"][-1]["run"]


# --------------------------------------------------------------------------------------------------
# The plan comment: exactly `pavedroad diff --markdown` of a real tenant change


def checkout(root: Path) -> Path:
    """A copy of this checkout as actions/checkout leaves it, with a virtual environment."""
    shutil.copytree(
        ROOT,
        root,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "node_modules", "__pycache__", "tests", "benchmarks"
        ),
    )
    (root / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return root


def run_plan_step(workspace: Path) -> subprocess.CompletedProcess[str]:
    """The workflow's own step, run with bash where the runner would run it."""
    step = next(s for s in load("plan.yml")["jobs"]["plan"]["steps"] if s.get("id") == "plan")
    temp = workspace / "runner-temp"
    temp.mkdir()
    env = {
        **os.environ,
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(workspace / "github-output"),
        "HEAD_SHA": "0123456789abcdef0123456789abcdef01234567",
    }
    return subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=workspace / step["working-directory"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def cli_diff_markdown(workspace: Path, stack: str) -> str:
    """`pavedroad plan` of both sides and `pavedroad diff --markdown`, by hand with the CLI."""
    plans = {}
    for side in ("base", "head"):
        out = workspace / "by-hand" / side / stack
        result = subprocess.run(
            [sys.executable, "-m", "pavedroad", "plan", stack, "--out", str(out)],
            cwd=workspace / side,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        plans[side] = out / "plan.json"
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad", "diff", str(plans["base"]), str(plans["head"])]
        + ["--markdown"],
        cwd=workspace / "head",
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_plan_comment_is_exactly_the_diff_of_a_real_tenant_change(tmp_path: Path) -> None:
    base, head = checkout(tmp_path / "base"), checkout(tmp_path / "head")
    tenant = head / "tenants" / "payments.yaml"
    text = tenant.read_text()
    assert "pods: 100," in text
    tenant.write_text(text.replace("pods: 100,", "pods: 120,"))

    result = run_plan_step(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "github-output").read_text() == "exit=0\n"
    body = (tmp_path / "runner-temp" / "plan" / "comment.md").read_text(encoding="utf-8")
    assert body.startswith(MARKER + "\n")

    stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (ROOT / "stacks").glob("*"))
    changed = []
    for stack in stacks:
        expected = cli_diff_markdown(tmp_path, stack)
        section = f"### `{stack}`: ✅ plan clean (exit 0)\n\n{expected}\n<details>"
        assert body.count(section) == 1, f"{stack}:\n{expected}\n---\n{body}"
        if "No changes" not in expected:
            changed.append(stack)
    # The quota reaches the stacks that do not override it (prod sets its own).
    assert changed == ["dev", "staging"]
    assert "Policies:" in body and "Kubernetes objects valid for" in body
    second = run_plan_step_again(tmp_path)
    assert second == body  # byte-identical on a re-run: the comment only changes with the plan


def run_plan_step_again(workspace: Path) -> str:
    shutil.rmtree(workspace / "runner-temp")
    (workspace / "github-output").unlink()
    result = run_plan_step(workspace)
    assert result.returncode == 0, result.stdout + result.stderr
    return (workspace / "runner-temp" / "plan" / "comment.md").read_text(encoding="utf-8")


def test_a_failing_head_plan_is_in_the_comment_and_fails_the_step(tmp_path: Path) -> None:
    checkout(tmp_path / "base")
    head = checkout(tmp_path / "head")
    for stack in ("staging", "prod"):  # one stack is enough here
        for side in ("base", "head"):
            (tmp_path / side / "stacks" / f"Pulumi.{stack}.yaml").unlink()
    tenant = head / "tenants" / "payments.yaml"
    tenant.write_text(tenant.read_text().replace("pods: 100,", "pods: lots,"))
    result = run_plan_step(tmp_path)
    assert result.returncode == 0, result.stderr  # the step records the verdict, a later one fails
    assert (tmp_path / "github-output").read_text() == "exit=1\n"
    body = (tmp_path / "runner-temp" / "plan" / "comment.md").read_text(encoding="utf-8")
    assert "### `dev`: ❌ configuration error, nothing planned (exit 2)" in body
    assert "tenants/payments.yaml" in body and "quota.pods" in body
    assert "No diff: the head plan wrote no plan" in body


# --------------------------------------------------------------------------------------------------
# The drift report, from `pulumi preview --refresh --expect-no-changes --json`

# Written by hand in the format the Pulumi CLI prints for `pulumi preview --json` (its preview
# digest: `steps` with `op`, `urn`, `diffReasons`, `replaceReasons`, `detailedDiff`;
# `diagnostics`; `changeSummary`), for a dev stack where someone edited a security group and a
# node group's scaling in the console and deleted a log group. Not captured from a real account.
STACK_URN = "urn:pulumi:dev::paved-road::pulumi:pulumi:Stack::paved-road-dev"
PLATFORM = "urn:pulumi:dev::paved-road::pulumi:pulumi:Stack$paved-road:index:Platform"
PREVIEW = {
    "config": {"aws:region": "eu-west-1"},
    "steps": [
        {"op": "same", "urn": STACK_URN, "provider": ""},
        {
            "op": "update",
            "urn": f"{PLATFORM}$aws:ec2/securityGroupRule:SecurityGroupRule::runner-https",
            "diffReasons": ["cidrBlocks"],
            "detailedDiff": {"cidrBlocks[0]": {"kind": "update", "inputDiff": False}},
        },
        {
            "op": "update",
            "urn": f"{PLATFORM}$aws:eks/nodeGroup:NodeGroup::cluster-ng-system",
            "diffReasons": ["scalingConfig"],
            "detailedDiff": {"scalingConfig.desiredSize": {"kind": "update"}},
        },
        {
            "op": "create",
            "urn": f"{PLATFORM}$aws:cloudwatch/logGroup:LogGroup::network-flow-logs",
        },
        {
            "op": "create-replacement",
            "urn": f"{PLATFORM}$aws:kms/alias:Alias::cluster-secrets",
            "replaceReasons": ["targetKeyId"],
        },
        {
            "op": "delete-replacement",
            "urn": f"{PLATFORM}$aws:kms/alias:Alias::cluster-secrets",
        },
        {"op": "same", "urn": f"{PLATFORM}$aws:ec2/vpc:Vpc::network-vpc"},
    ],
    "diagnostics": [
        {
            "urn": STACK_URN,
            "message": "error: no changes were expected but changes were proposed\n",
            "severity": "error",
        }
    ],
    "changeSummary": {"create": 1, "replace": 1, "same": 2, "update": 2},
}


def test_drift_names_each_drifted_resource_once() -> None:
    found = drift.drifted(PREVIEW)
    assert [(d.op, d.type, d.name, d.properties) for d in found] == [
        ("create", "aws:cloudwatch/logGroup:LogGroup", "network-flow-logs", ()),
        ("update", "aws:ec2/securityGroupRule:SecurityGroupRule", "runner-https",
         ("cidrBlocks", "cidrBlocks[0]")),
        ("update", "aws:eks/nodeGroup:NodeGroup", "cluster-ng-system",
         ("scalingConfig", "scalingConfig.desiredSize")),
        ("replace", "aws:kms/alias:Alias", "cluster-secrets", ("targetKeyId",)),
    ]  # fmt: skip


def test_drift_command_writes_the_issue(tmp_path: Path) -> None:
    preview = tmp_path / "preview.json"
    preview.write_text(json.dumps(PREVIEW))
    out = tmp_path / "drift"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pavedroad.drift",
            str(preview),
            "--stack",
            "dev",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    assert (out / "title.txt").read_text() == "Drift in stack dev\n"
    body = (out / "body.md").read_text()
    assert body.startswith(drift.MARKER) and "stack `dev`" in body and "4 resource(s)" in body
    assert "| update | `aws:eks/nodeGroup:NodeGroup` | `cluster-ng-system` |" in body
    assert "`scalingConfig.desiredSize`" in body
    assert "`network-vpc`" not in body


def test_no_drift_and_a_failed_preview_are_not_drift(tmp_path: Path) -> None:
    clean = {"steps": [{"op": "same", "urn": STACK_URN}], "changeSummary": {"same": 1}}
    assert drift.drifted(clean) == []
    failed = {**PREVIEW, "diagnostics": [{"message": "error: AccessDenied", "severity": "error"}]}
    with pytest.raises(drift.PreviewError, match="AccessDenied"):
        drift.drifted(failed)
    empty = tmp_path / "preview.json"
    empty.write_text("")
    code = drift.main([str(empty), "--stack", "dev", "--out", str(tmp_path / "out")])
    assert code == 2 and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------------
# The sticky comment: found by its marker among the bot's own comments, edited in place


class FakeGitHub(ThreadingHTTPServer):
    """GitHub's issue-comment endpoints on loopback, holding comments in memory."""

    def __init__(self, comments: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.comments = comments
        self.calls: list[tuple[str, str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    server: FakeGitHub

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, document: Any) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        assert url.path == "/repos/acme/paved-road/issues/7/comments", url.path
        assert self.headers["Authorization"] == "Bearer t0ken"
        size, page = int(query["per_page"][0]), int(query["page"][0])
        self.server.calls.append(("GET", self.path, None))
        self._answer(200, self.server.comments[(page - 1) * size : page * size])

    def _write(self, method: str) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls.append((method, self.path, payload))
        self._answer(200 if method == "PATCH" else 201, {"html_url": f"https://x{self.path}"})

    def do_PATCH(self) -> None:
        self._write("PATCH")

    def do_POST(self) -> None:
        self._write("POST")


def post_comment(comments: list[dict[str, Any]], body: str, tmp_path: Path) -> FakeGitHub:
    """Run `python -m pavedroad.sticky_comment` as plan.yml does, against the fake API."""
    server = FakeGitHub(comments)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        path = tmp_path / "comment.md"
        path.write_text(body, encoding="utf-8")
        env = {
            **os.environ,
            "GH_TOKEN": "t0ken",
            "GITHUB_REPOSITORY": "acme/paved-road",
            "GITHUB_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
        }
        result = subprocess.run(
            [sys.executable, "-m", "pavedroad.sticky_comment", "7", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()
    return server


def comment(id_: int, login: str, body: str) -> dict[str, Any]:
    return {"id": id_, "user": {"login": login}, "body": body}


BOT = "github-actions[bot]"
BODY = f"{MARKER}\n## Offline plan\n\nnew\n"


def test_the_plan_comment_is_edited_in_place(tmp_path: Path) -> None:
    # 100 comments fill the first page; the bot's plan comment is on the second. A reviewer's
    # comment quoting the marker comes first and must not be taken for it.
    comments = [comment(1, "alice", f"{MARKER}\nfake")]
    comments += [comment(i, "bob", "lgtm") for i in range(2, 101)]
    comments += [comment(101, BOT, "other bot comment"), comment(102, BOT, f"{MARKER}\nold")]
    server = post_comment(comments, BODY, tmp_path)
    writes = [call for call in server.calls if call[0] != "GET"]
    assert writes == [("PATCH", "/repos/acme/paved-road/issues/comments/102", {"body": BODY})]
    assert [c[1].rsplit("page=", 1)[1] for c in server.calls if c[0] == "GET"] == ["1", "2"]


def test_the_first_plan_comment_is_posted(tmp_path: Path) -> None:
    comments = [comment(1, "alice", f"{MARKER}\nfake"), comment(2, BOT, "<!-- other -->\nx")]
    server = post_comment(comments, BODY, tmp_path)
    writes = [call for call in server.calls if call[0] != "GET"]
    assert writes == [("POST", "/repos/acme/paved-road/issues/7/comments", {"body": BODY})]


def test_a_body_without_a_marker_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "comment.md"
    path.write_text("## no marker\n")
    env = {**os.environ, "GH_TOKEN": "t", "GITHUB_REPOSITORY": "acme/paved-road"}
    result = subprocess.run(
        [sys.executable, "-m", "pavedroad.sticky_comment", "7", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "marker" in result.stderr


def test_a_comment_too_long_for_github_gives_up_the_largest_diff_first() -> None:
    from pavedroad import pr_comment

    def report(stack: str, size: int) -> pr_comment.StackReport:
        run = pr_comment.PlanRun(
            0, "Wrote a/plan.json and a/kubernetes.yaml\nNo policy violations.", None
        )
        return pr_comment.StackReport(stack, run, run, "x" * size + "\n")

    small = report("dev", 1_000)
    reports = [small, report("prod", 40_000), report("staging", 30_000)]
    body = pr_comment.render(reports, [])
    assert len(body) <= pr_comment.MAX_COMMENT_CHARS
    assert body.count("too long for a comment") == 1 and "`head/prod/diff.md`" in body
    assert small.diff in body and "x" * 30_000 in body
    assert body.count("No policy violations.") == 3
