"""The marketplace's software templates: Backstage's validators accept them, their forms match the
tenant-file models, every order renders to a new file that plans cleanly, and what the plan
would refuse the form refuses first.

Orders are run with tests/backstage/scaffold.js, which templates step inputs and renders
skeletons the way the scaffolder does (nunjucks as SecureTemplater configures it) and writes what
`publish:github:pull-request` would push; the files are then planned with `pavedroad plan`.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import typing
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from components.apps_config import (
    REQUIRED_FIELDS,
    STRATEGIES,
    AppConfig,
    KafkaConfig,
    ReleaseConfig,
)
from components.resources_config import (
    POSTGRES_VERSIONS,
    REDIS_VERSIONS,
    EventSourceConfig,
    ResourceConfig,
)
from components.tenants_config import BudgetConfig, QuotaConfig, TenantConfig, TenantGithubConfig
from pavedroad import forms, templates
from tests.conftest import ROOT, make_project, pavedroad, stack_config
from tests.test_catalog import copy_project

BACKSTAGE = ROOT / "tests" / "backstage"
REPOSITORY, BRANCH = "https://github.com/acme/paved-road", "main"
# Every shipped team runs in production, where an image runs only by digest (or from a
# repository the pack config lists as immutable).
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/{team}/{name}:1.0.0@sha256:" + "0" * 64
OFFERINGS = [
    "onboard-team",
    "add-app-api-service",
    "add-app-batch-job",
    "add-app-kafka-consumer",
    "add-postgres",
    "add-redis",
    "add-dns",
    "add-events",
    "create-app-repository",
]


def node(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    if not (BACKSTAGE / "node_modules" / "nunjucks").is_dir() or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node or tests/backstage/node_modules is missing: .ci/run installs them")
        pytest.skip("node and tests/backstage/node_modules (npm ci) are needed")
    return subprocess.run(
        ["node", str(BACKSTAGE / script), *args], capture_output=True, text=True, cwd=BACKSTAGE
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog")
    result = pavedroad("catalog", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def template(name: str, directory: Path = ROOT / "catalog") -> dict[str, Any]:
    text = (directory / "templates" / name / "template.yaml").read_text()
    return yaml.safe_load(text)


def form(name: str, directory: Path = ROOT / "catalog") -> dict[str, Any]:
    """The whole form as one JSON Schema: every page must hold."""
    return {"allOf": template(name, directory)["spec"]["parameters"]}


def with_defaults(schema: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """`answers` with the defaults the form fills in (rjsf's getDefaultFormState): every
    property's default where nothing was answered, in nested objects too, and in the `then` of
    each condition the answers meet."""
    answers = copy.deepcopy(answers)

    def fill(schema: dict[str, Any], data: dict[str, Any]) -> None:
        for key, prop in schema.get("properties", {}).items():
            if not isinstance(prop, dict):
                continue
            if prop.get("type") == "object" and "properties" in prop:
                fill(prop, data.setdefault(key, {}))
            elif key not in data and "default" in prop:
                data[key] = prop["default"]
        for sub in schema.get("allOf", []):
            if "if" in sub:
                if jsonschema.Draft7Validator(sub["if"]).is_valid(data):
                    fill(sub["then"], data)
            else:
                fill(sub, data)

    fill(schema, answers)
    return answers


def form_errors(name: str, answers: dict[str, Any]) -> list[str]:
    schema = form(name)
    jsonschema.Draft7Validator.check_schema(schema)
    return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(answers)]


# --------------------------------------------------------------------------------------------------
# Backstage's own validators


def test_every_template_passes_backstages_validators(generated: Path) -> None:
    result = node("validate.js", str(generated))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == []
    assert report["kinds"]["Template"] == len(OFFERINGS)
    assert sorted(p.parent.name for p in generated.glob("templates/*/template.yaml")) == sorted(
        OFFERINGS
    )


def test_the_template_validator_refuses_a_broken_template(generated: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(generated, broken)
    path = broken / "templates" / "add-redis" / "template.yaml"
    document = yaml.safe_load(path.read_text())
    del document["spec"]["steps"]
    document["spec"]["owner"] = "group:default/nobody"
    path.write_text(yaml.safe_dump(document))
    result = node("validate.js", str(broken))
    assert result.returncode == 1, result.stdout
    problems = json.loads(result.stdout)["problems"]
    assert any("Template add-redis" in p for p in problems), problems


def test_steps_open_pull_requests_and_never_push() -> None:
    """Every order is a pull request against this repository; only the app-repository
    template creates something else (the new repository) and registers it."""
    for name in OFFERINGS:
        steps = template(name)["spec"]["steps"]
        actions = [step["action"] for step in steps]
        assert actions[-1] == "publish:github:pull-request", name
        pull_request = steps[-1]["input"]
        assert pull_request["repoUrl"] == "github.com?owner=acme&repo=paved-road"
        assert pull_request["targetBranchName"] == BRANCH
        assert "update" not in pull_request  # never rewrite an open pull request
        expected = ["fetch:template", "publish:github:pull-request"]
        if name == "create-app-repository":
            layers = ["fetch:template"] * 3  # common, server (if it serves), the template's own
            expected = [*layers, "publish:github", "catalog:register", *expected]
        assert actions == expected, name
        links = template(name)["spec"]["output"]["links"]
        assert links[0]["url"] == "${{ steps['pull-request'].output.remoteUrl }}"


# --------------------------------------------------------------------------------------------------
# Forms against models

# Each offered field's model field: (model, attribute). A field offered that is not here, or
# here and not offered, fails the test.
APP_COMMON = {"name": (AppConfig, "name"), "image": (AppConfig, "image")}
APP_FIELDS = {
    "api-service": {
        "port": (AppConfig, "port"),
        "replicas": (AppConfig, "replicas"),
        "capacity": (AppConfig, "capacity"),
        "flags": (AppConfig, "flags"),
        "release.strategy": (ReleaseConfig, "strategy"),
    },
    "batch-job": {
        "schedule": (AppConfig, "schedule"),
        "concurrencyPolicy": (AppConfig, "concurrency_policy"),
        "backoffLimit": (AppConfig, "backoff_limit"),
        "activeDeadlineSeconds": (AppConfig, "active_deadline_seconds"),
        "capacity": (AppConfig, "capacity"),
        "flags": (AppConfig, "flags"),
    },
    "kafka-consumer": {
        "port": (AppConfig, "port"),
        "replicas": (AppConfig, "replicas"),
        "capacity": (AppConfig, "capacity"),
        "flags": (AppConfig, "flags"),
        "kafka.topic": (KafkaConfig, "topic"),
        "kafka.consumerGroup": (KafkaConfig, "consumer_group"),
        "kafka.maxLag": (KafkaConfig, "max_lag"),
    },
}
RESOURCE_FIELDS = {
    "postgres": {"size": (ResourceConfig, "size"), "version": (ResourceConfig, "version")},
    "redis": {"size": (ResourceConfig, "size"), "version": (ResourceConfig, "version")},
    "dns": {"app": (ResourceConfig, "app")},
    "events": {
        "consumer": (ResourceConfig, "consumer"),
        "source.schedule": (EventSourceConfig, "schedule"),
        "source.s3Bucket": (EventSourceConfig, "s3_bucket"),
    },
}
FORM_FIELDS: dict[str, dict[str, tuple[type[BaseModel], str]]] = {
    "onboard-team": {
        "name": (TenantConfig, "name"),
        "displayName": (TenantConfig, "display_name"),
        "costCenter": (TenantConfig, "cost_center"),
        "owners": (TenantConfig, "owners"),
        "domain": (TenantConfig, "domain"),
        "github.team": (TenantGithubConfig, "team"),
        **{
            f"quota.{QuotaConfig.model_fields[n].alias}": (QuotaConfig, n)
            for n in QuotaConfig.model_fields
        },
        "budget.monthlyUsd": (BudgetConfig, "monthly_usd"),
        "budget.notify": (BudgetConfig, "notify"),
    },
    **{f"add-app-{t}": {**APP_COMMON, **fields} for t, fields in APP_FIELDS.items()},
    **{
        f"add-{kind}": {"name": (ResourceConfig, "name"), **fields}
        for kind, fields in RESOURCE_FIELDS.items()
    },
    "create-app-repository": {
        "name": (AppConfig, "name"),
        "template": (AppConfig, "template"),
        **{k: v for fields in APP_FIELDS.values() for k, v in fields.items()},
    },
}
# Fields that are not the tenant file's: who orders (team) and what the repository needs.
NOT_MODEL_FIELDS = {"team", "description", "awsAccountId", "awsRegion", "pushRoleArn"}


def leaves(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Every answerable field of a form: dotted path → its schema (conditions' fields too)."""
    found: dict[str, dict[str, Any]] = {}
    for key, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict) or "type" not in prop:
            continue  # a condition narrowing a field declared elsewhere
        path = f"{prefix}{key}"
        nested = [prop, *prop.get("oneOf", [])] if prop.get("type") == "object" else []
        if nested:
            for part in nested:
                found.update(leaves(part, f"{path}."))
        else:
            found[path] = prop
    for sub in [
        *schema.get("allOf", []),
        *[c["then"] for c in schema.get("allOf", []) if "then" in c],
    ]:
        found.update(leaves(sub, prefix))
    return found


def pydantic_property(model: type[BaseModel], attribute: str) -> dict[str, Any]:
    """The field as pydantic's own JSON Schema states it, Optional unwrapped."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    prop = dict(schema["properties"][model.model_fields[attribute].alias or attribute])
    options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
    if options:
        (option,) = options
        prop.update(option)
    return prop


def required_in(schema: dict[str, Any], path: str) -> bool:
    """Whether the form requires `path` (on its page, in its object, or under a condition)."""
    *parents, leaf = path.split(".")
    for page in schema["allOf"]:
        for scope in [page, *[c["then"] for c in page.get("allOf", []) if "then" in c]]:
            current: Optional[dict[str, Any]] = scope
            for parent in parents:
                if current is None or parent not in current.get("required", []):
                    current = None
                    break
                current = current["properties"].get(parent)
            if current is None:
                continue
            branches = current.get("oneOf") or [current]
            if all(leaf in b.get("required", []) for b in branches):
                return True
    return False


@pytest.mark.parametrize("name", OFFERINGS)
def test_the_committed_form_follows_the_models(name: str) -> None:
    """Field by field, the committed form says what pydantic's schema of the live model says:
    so a model change that is not regenerated into catalog/templates fails here."""
    schema = form(name)
    offered = leaves(schema)
    expected = FORM_FIELDS[name]
    assert set(offered) - NOT_MODEL_FIELDS == set(expected), name
    for path, (model, attribute) in expected.items():
        field, prop = offered[path], pydantic_property(model, attribute)
        where = f"{name}: {path}"
        assert field["description"] == prop["description"], where
        assert field["type"] == prop["type"], where
        if prop.get("default") is not None:
            assert field.get("default") == prop["default"], where
        else:
            assert "default" not in field or path == "template", where
        for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if bound in prop:
                assert field[bound] == prop[bound], (where, bound)
        for length in ("minItems", "maxItems", "minLength", "maxLength"):
            if length in prop:
                assert field[length] == prop[length], (where, length)
        if "enum" in prop:
            assert field["enum"] == prop["enum"] or set(field["enum"]) < set(prop["enum"]), where
        info = model.model_fields[attribute]
        required = info.is_required() or (
            model is AppConfig
            and attribute in REQUIRED_FIELDS.get(name.removeprefix("add-app-"), ())
        )
        if required and name != "create-app-repository":
            assert required_in(schema, path), f"{where} is required by the model"
        # A field a validator checks carries that check (pattern or bounds) into the form.
        validated = {
            f
            for d in model.__pydantic_decorators__.field_validators.values()
            for f in d.info.fields
        }
        if attribute in validated and attribute not in ("version", "consumer", "app"):
            # ... from the validator's own constant, as it is today.
            live = forms.model_field(model, attribute)
            for key in ("pattern", "allOf", "items", "minimum", "maximum"):
                if key in live:
                    assert field[key] == live[key] or key == "items", (where, key)
            if "items" in live:
                assert field["items"]["pattern"] == live["items"]["pattern"], where
            carried = field.get("pattern") or field.get("items", {}).get("pattern")
            assert (
                carried or "minimum" in field
            ), f"{where}: the validator's check is not in the form"
    if name == "add-app-api-service":
        assert offered["release.strategy"]["enum"] == list(STRATEGIES["api-service"])
    if name == "add-postgres":
        assert offered["version"]["enum"] == list(POSTGRES_VERSIONS)
    if name == "add-redis":
        assert offered["version"]["enum"] == list(REDIS_VERSIONS)


@pytest.mark.parametrize("name", OFFERINGS)
def test_every_required_model_field_is_asked_or_fixed(name: str) -> None:
    model = {
        "onboard-team": TenantConfig,
        "create-app-repository": AppConfig,
    }.get(name, AppConfig if name.startswith("add-app-") else ResourceConfig)
    offered = leaves(form(name))
    # What the template writes itself: the app template or resource type of the offering, and
    # the image of a new repository (the one its first commit builds).
    fixed = (
        {"template"}
        if name.startswith("add-app-")
        else {"type"} if name.startswith("add-") else set()
    )
    if name == "create-app-repository":
        fixed = {"image"}
    for attribute, info in model.model_fields.items():
        alias = info.alias or attribute
        if info.is_required() and alias not in fixed:
            assert alias in offered, f"{name}: {alias} is required by {model.__name__}"


# --------------------------------------------------------------------------------------------------
# Patterns: the form's regular expressions (run as ECMA regexes, as ajv runs them) agree with the
# models' validators, value by value

PATTERN_CASES: list[tuple[type[BaseModel], str, dict[str, Any], list[Any]]] = [
    (AppConfig, "name", {"template": "api-service", "image": "a/b:1"},
     ["web", "web-2", "w", "Web", "2web", "web-", "a" * 40, "a" * 41, "web\n", "we_b"]),
    (AppConfig, "image", {"name": "web", "template": "api-service"},
     ["r.example/team/app:1.4.2", "team/app@sha256:" + "a" * 64, "app:1", "app", "app:latest",
      "app:LATEST", "app:latest@sha256:" + "b" * 64, "r.example:5000/app", "r.example:5000/app:v1",
      "App:1", "app:1\n", "app::1"]),
    (AppConfig, "schedule", {"name": "job", "template": "batch-job", "image": "a/b:1"},
     ["30 2 * * *", "@daily", "*/15 * * * *", "0 0 1 JAN mon", "0 0 1 jan-mar MON-FRI",
      "0  3 * * *", "05 03 * * *", "61 * * * *", "* * * *", "0 24 * * *", "0 0 0 * *",
      "0 0 * 13 *", "0 0 * * 7", "@every 5m", "*/0 * * * *", " 0 0 * * *", "0 0 * * 1\n",
      "0,30 8-18/2 * * 1-5", "0 0 ? * *", "0 0 * * SUNDAY"]),
    (KafkaConfig, "topic", {}, ["payments.ledger", "a" * 249, "a" * 250, "bad topic", "x\n"]),
    (TenantConfig, "name", {"costCenter": "cc-1", "owners": ["arn:aws:iam::123456789012:role/x"]},
     ["fraud", "a" * 40, "a" * 41, "Fraud", "-fraud", "fraud-", "fr_aud"]),
    (TenantConfig, "cost_center", {"name": "x", "owners": ["arn:aws:iam::123456789012:role/x"]},
     ["cc-1234", "cc 1234", "a" * 63, "a" * 64, "-cc"]),
    (QuotaConfig, "cpu", {}, ["4", "500m", "1.5", "4x", "four", "-1"]),
    (ResourceConfig, "name", {"type": "redis"}, ["cache", "a" * 30, "a" * 31, "Cache", "1cache"]),
    (EventSourceConfig, "schedule", {},
     ["rate(5 minutes)", "rate(1 minute)", "rate(1 minutes)", "cron(0 3 * * ? *)", "cron(0 3)",
      "every 5 minutes"]),
    (EventSourceConfig, "s3_bucket", {}, ["my-bucket", "My-Bucket", "ab", "a" * 63, "a" * 64]),
]  # fmt: skip


def model_accepts(model: type[BaseModel], attribute: str, base: dict[str, Any], value: Any) -> bool:
    alias = model.model_fields[attribute].alias or attribute
    try:
        model.model_validate({**base, alias: value})
    except ValidationError as error:
        assert all(e["loc"][:1] == (alias,) for e in error.errors()), error
        return False
    return True


def test_form_patterns_agree_with_the_validators(tmp_path: Path) -> None:
    checks = []
    for model, attribute, base, values in PATTERN_CASES:
        field = forms.model_field(model, attribute)
        for value in values:
            checks.append(
                {
                    "schema": field.get("items", field) if field["type"] == "array" else field,
                    "value": value,
                }
            )
    request = tmp_path / "patterns.json"
    request.write_text(json.dumps(checks))
    result = node("patterns.js", str(request))
    assert result.returncode == 0, result.stderr
    verdicts = iter(json.loads(result.stdout))
    for model, attribute, base, values in PATTERN_CASES:
        for value in values:
            assert next(verdicts) == model_accepts(model, attribute, base, value), (
                model.__name__,
                attribute,
                value,
            )
    assert next(verdicts, None) is None


def test_a_backwards_cron_range_is_the_one_gap_and_the_plan_catches_it() -> None:
    pattern = forms.model_field(AppConfig, "schedule")["pattern"]
    assert jsonschema.Draft7Validator({"pattern": pattern}).is_valid("5-1 * * * *")
    assert not model_accepts(
        AppConfig,
        "schedule",
        {"name": "j", "template": "batch-job", "image": "a/b:1"},
        "5-1 * * * *",
    )


# --------------------------------------------------------------------------------------------------
# Orders: rendered as the scaffolder renders them, planned as a pull request would be


def image(team: str, name: str) -> str:
    return IMAGE.format(team=team, name=name)


SAMPLES: dict[str, dict[str, Any]] = {
    "onboard-team": {
        "name": "fraud",
        "displayName": "Fraud",
        "costCenter": "cc-4242",
        "owners": ["arn:aws:iam::123456789012:role/fraud-admins"],
        "domain": "commerce",
        "github": {"team": "@acme/fraud"},
        "budget": {"monthlyUsd": 1500, "notify": ["fraud-leads@paved-road.example"]},
    },
    "add-app-api-service": {
        "team": "payments", "name": "refunds-api", "image": image("payments", "refunds-api"),
    },
    "add-app-batch-job": {
        "team": "storefront", "name": "feed-export", "image": image("storefront", "feed-export"),
        "schedule": "15 3 * * *",
    },
    "add-app-kafka-consumer": {
        "team": "payments", "name": "fraud-check", "image": image("payments", "fraud-check"),
        "kafka": {"topic": "payments.fraud"},
    },
    "add-postgres": {"team": "search", "name": "catalog-db"},
    "add-redis": {"team": "storefront", "name": "pages"},
    "add-dns": {"team": "storefront", "name": "shop", "app": "storefront-web"},
    "add-events": {
        "team": "payments", "name": "refunds", "source": {"schedule": "rate(5 minutes)"},
        "consumer": "ledger-consumer",
    },
    "create-app-repository": {
        "team": "search", "name": "suggest", "template": "kafka-consumer",
        "description": "Suggests search terms as people type.",
        "kafka": {"topic": "search.queries"}, "awsAccountId": "123456789012",
        "pushRoleArn": "arn:aws:iam::123456789012:role/search-suggest-push",
    },
}  # fmt: skip


def scaffold(name: str, answers: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """Run the order's steps; the report lists each pull request and repository written."""
    out = tmp_path / "scaffold"
    out.mkdir(parents=True)
    (out / "answers.json").write_text(json.dumps(answers))
    result = node(
        "scaffold.js",
        str(ROOT / "catalog" / "templates" / name / "template.yaml"),
        str(out / "answers.json"),
        str(out),
        REPOSITORY,
        BRANCH,
        str(ROOT),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def order_project(
    name: str, answers: dict[str, Any], tmp_path: Path, stack: str = "dev"
) -> tuple[Path, dict[str, Any], list[str]]:
    """A project with the order's pull request applied (and a new team listed in the stack,
    as the platform team does after the onboarding pull request): the root, the scaffold
    report, and the files the pull request adds (`rewrites <file>` for one that exists)."""
    report = scaffold(name, answers, tmp_path)
    (pull_request,) = report["pullRequests"]
    config = copy.deepcopy(stack_config(stack))
    if name == "onboard-team":
        config["paved-road:tenants"].append(answers.get("name"))
    (tmp_path / "project").mkdir(parents=True)
    root = make_project(tmp_path / "project", config, stack)
    shutil.copytree(ROOT / "policies" / "config", root / "policies" / "config")
    added = []
    for relative in pull_request["files"]:
        target = root / relative
        added.append(f"rewrites {relative}" if target.exists() else relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(pull_request["dir"]) / relative, target)
    return root, report, added


def plan(root: Path, stack: str = "dev") -> subprocess.CompletedProcess[str]:
    return pavedroad("plan", stack, "-C", str(root), "--out", str(root / "build"))


def planned_names(root: Path, stack: str = "dev") -> list[str]:
    document = json.loads((root / "build" / "plan.json").read_text())
    return [resource["name"] for resource in document["resources"]]


@pytest.mark.parametrize("name", OFFERINGS)
def test_a_sample_order_renders_a_new_file_that_plans_cleanly(name: str, tmp_path: Path) -> None:
    """In development and in production (the strictest: every shipped team runs there)."""
    answers = with_defaults(form(name), SAMPLES[name])
    assert form_errors(name, answers) == []
    team = answers["name"] if name == "onboard-team" else answers["team"]
    kind = "resources" if name.startswith("add-") and not name.startswith("add-app") else "apps"
    expected = (
        f"tenants/{team}.yaml"
        if name == "onboard-team"
        else (f"tenants/{team}/{kind}/{answers['name']}.yaml")
    )
    marker = f"{team}-workload-role" if name == "onboard-team" else f"{team}/{answers['name']}"
    for stack in ("dev", "prod"):
        root, report, added = order_project(name, answers, tmp_path / stack, stack)
        assert added == [expected]
        result = plan(root, stack)
        if name == "create-app-repository" and stack == "prod":
            # The first image is tagged with the new repository's commit; production runs it
            # once pinned by digest, as the pull request (a draft) says.
            assert result.returncode == 1, result.stdout + result.stderr
            assert f"{team}/{answers['name']}" in result.stdout
            assert "not known to have immutable tags" in result.stdout
            assert "@sha256:" in report["pullRequests"][0]["description"]
            continue
        assert result.returncode == 0, result.stdout + result.stderr
        names = planned_names(root)
        assert any(
            n == marker or n.startswith(marker + "/") or n.startswith(marker + "-") for n in names
        ), marker
        pull_request = report["pullRequests"][0]
        assert pull_request["branchName"].startswith(f"portal/{name}/")
        assert report["output"]["links"][0]["url"] == "https://github.com/acme/paved-road/pull/1"


def test_in_production_an_image_runs_by_digest_or_from_an_immutable_repository(
    tmp_path: Path,
) -> None:
    """The production stacks' policy, read from the same pack config as the plan: a tag of an
    unlisted repository is refused by the form and by the production plan; a listed immutable
    repository's tag is accepted by both."""
    tagged = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/refunds-api:1.0.0"
    answers = with_defaults(
        form("add-app-api-service"), {**SAMPLES["add-app-api-service"], "image": tagged}
    )
    assert form_errors("add-app-api-service", answers)
    root, _, _ = order_project("add-app-api-service", answers, tmp_path / "tagged", "prod")
    result = plan(root, "prod")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "payments/refunds-api" in result.stdout and "immutable tags" in result.stdout
    listed = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/checkout-api:9.9.9"
    answers = {**answers, "image": listed}
    assert form_errors("add-app-api-service", answers) == []
    root, _, _ = order_project("add-app-api-service", answers, tmp_path / "listed", "prod")
    result = plan(root, "prod")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_app_repository_order_renders_the_pipeline_skeleton(tmp_path: Path) -> None:
    """The repository comes from marketplace/skeletons/app-repository/<template> (the fetch URL
    resolves in this checkout), is registered from its catalog-info.yaml, and the app's file
    names the image its first commit builds."""
    answers = with_defaults(form("create-app-repository"), SAMPLES["create-app-repository"])
    report = scaffold("create-app-repository", answers, tmp_path)
    (repository,) = report["repositories"]
    assert (repository["owner"], repository["repo"]) == ("acme", "search-suggest")
    assert "catalog-info.yaml" in repository["files"]
    steps = {step["id"]: step for step in report["steps"]}
    assert "skipped" not in steps["render-server"]  # a consumer serves its probes and metrics
    for layer in ("render-common", "render-server"):
        assert steps[layer]["input"]["values"] == steps["render-repository"]["input"]["values"]
    values = steps["render-repository"]["input"]["values"]
    assert values == {
        "name": "suggest",
        "team": "search",
        "description": "Suggests search terms as people type.",
        "template": "kafka-consumer",
        "port": 8080,
        "owner": "group:default/search",
        "awsRegion": "eu-west-1",
        "awsAccountId": "123456789012",
        "ecrRepository": "search/suggest",
        "pushRoleArn": "arn:aws:iam::123456789012:role/search-suggest-push",
        "platformRepository": "acme/paved-road",
        "repoOwner": "acme",
        "repoName": "search-suggest",
    }
    commit = steps["publish"]["output"]["commitHash"]
    fragment = Path(report["pullRequests"][0]["dir"]) / "tenants/search/apps/suggest.yaml"
    assert yaml.safe_load(fragment.read_text())["image"] == (
        f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/search/suggest:{commit}"
    )
    assert report["pullRequests"][0]["draft"] is True
    assert steps["register"]["output"]["entityRef"] == (
        f"component:default/search-suggest{templates.REPOSITORY_ENTITY_SUFFIX}"
    )


def test_a_batch_job_repository_has_no_server_layer(tmp_path: Path) -> None:
    """The layers of create-app-repository: a job gets the common files and its own, never the
    HTTP server's probes; the rendered repository holds no file twice (the layers are disjoint)."""
    sample = {**SAMPLES["create-app-repository"], "template": "batch-job"}
    answers = with_defaults(form("create-app-repository"), sample)
    report = scaffold("create-app-repository", answers, tmp_path)
    steps = {step["id"]: step for step in report["steps"]}
    assert steps["render-server"] == {
        "id": "render-server",
        "action": "fetch:template",
        "skipped": True,
    }
    (repository,) = report["repositories"]
    assert "app/probes.py" not in repository["files"]
    assert {".github/workflows/ci.yml", "Dockerfile", "app/job.py"} <= set(repository["files"])


# Answers the plan would refuse: (offering, answers replacing the sample's, stack, file and field
# the plan names). Each is refused by the form's schema, and planned anyway to show the plan
# refuses it too.
REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "add-app-api-service",
        {"name": "Refunds-API"},
        "dev",
        "tenants/payments/apps/Refunds-API.yaml: name:",
    ),
    ("add-app-api-service", {"port": 80}, "dev", "tenants/payments/apps/refunds-api.yaml: port:"),
    (
        "add-app-api-service",
        {"replicas": 1, "capacity": "spot"},
        "dev",
        "tenants/payments/apps/refunds-api.yaml: capacity:",
    ),
    (
        "add-app-kafka-consumer",
        {"replicas": 1, "capacity": "spot"},
        "dev",
        "tenants/payments/apps/fraud-check.yaml: capacity:",
    ),
    (
        "add-app-api-service",
        {"release": {"strategy": "rolling"}},
        "dev",
        "tenants/payments/apps/refunds-api.yaml: release.strategy:",
    ),
    (
        "add-app-api-service",
        {"image": "r.example/payments/refunds-api:latest"},
        "dev",
        "tenants/payments/apps/refunds-api.yaml: image:",
    ),
    (
        "add-app-api-service",
        {"image": "r.example/payments/refunds-api"},
        "dev",
        "tenants/payments/apps/refunds-api.yaml: image:",
    ),
    (
        "add-app-api-service",
        {"name": "checkout-api"},
        "dev",
        "tenants/payments/apps/checkout-api.yaml: name:",
    ),
    (
        "add-app-api-service",
        {"name": "checkout-api-preview"},
        "dev",
        "tenants/payments/apps/checkout-api-preview.yaml: name:",
    ),
    (
        "add-app-api-service",
        {"replicas": 101},
        "dev",
        "tenants/payments/apps/refunds-api.yaml: replicas:",
    ),
    (
        "add-app-batch-job",
        {"schedule": "61 * * * *"},
        "dev",
        "tenants/storefront/apps/feed-export.yaml: schedule:",
    ),
    (
        "add-app-batch-job",
        {"schedule": None},
        "dev",
        "tenants/storefront/apps/feed-export.yaml: schedule: is required",
    ),
    (
        "add-app-batch-job",
        {"concurrencyPolicy": "Sometimes"},
        "dev",
        "tenants/storefront/apps/feed-export.yaml: concurrencyPolicy:",
    ),
    (
        "add-app-batch-job",
        {"activeDeadlineSeconds": 30},
        "dev",
        "tenants/storefront/apps/feed-export.yaml: activeDeadlineSeconds:",
    ),
    (
        "add-app-kafka-consumer",
        {"kafka": {"maxLag": 10}},
        "dev",
        "tenants/payments/apps/fraud-check.yaml: kafka.topic: field required",
    ),
    (
        "add-app-kafka-consumer",
        {"kafka": {"topic": "bad topic"}},
        "dev",
        "tenants/payments/apps/fraud-check.yaml: kafka.topic:",
    ),
    (
        "add-app-kafka-consumer",
        {"kafka": {"topic": "t", "maxLag": 0}},
        "dev",
        "tenants/payments/apps/fraud-check.yaml: kafka.maxLag:",
    ),
    (
        "add-postgres",
        {"version": "15"},
        "dev",
        "tenants/search/resources/catalog-db.yaml: version:",
    ),
    ("add-postgres", {"size": "huge"}, "dev", "tenants/search/resources/catalog-db.yaml: size:"),
    (
        "add-redis",
        {"name": "page-fragments"},
        "staging",
        "tenants/storefront/resources/page-fragments.yaml: name:",
    ),
    (
        "add-dns",
        {"name": "storefront-web"},
        "dev",
        "tenants/storefront/resources/storefront-web.yaml: name:",
    ),
    ("add-dns", {"app": "sitemap"}, "dev", "tenants/storefront/resources/shop.yaml: app:"),
    ("add-dns", {"app": "nothing"}, "dev", "tenants/storefront/resources/shop.yaml: app:"),
    (
        "add-events",
        {"consumer": "checkout-api"},
        "dev",
        "tenants/payments/resources/refunds.yaml: consumer:",
    ),
    (
        "add-events",
        {"source": {"schedule": "rate(5 minutes)", "s3Bucket": "my-bucket"}},
        "dev",
        "tenants/payments/resources/refunds.yaml: source:",
    ),
    (
        "add-events",
        {"source": {"schedule": "every 5 minutes"}},
        "dev",
        "tenants/payments/resources/refunds.yaml: source.schedule:",
    ),
    ("onboard-team", {"name": "payments-jobs"}, "dev", "tenants/payments-jobs.yaml: name:"),
    ("onboard-team", {"name": "kube-system"}, "dev", "tenants/kube-system.yaml: name:"),
    (
        "onboard-team",
        {"owners": ["arn:aws:iam::123456789012:role/payments-admins"]},
        "dev",
        "tenants/fraud.yaml: owners[0]:",
    ),
    (
        "onboard-team",
        {"owners": ["arn:aws:iam::123456789012:role/platform-admins"]},
        "dev",
        "tenants/fraud.yaml: owners[0]:",
    ),
    ("onboard-team", {"owners": []}, "dev", "tenants/fraud.yaml: owners:"),
    ("onboard-team", {"costCenter": "cc 4242"}, "dev", "tenants/fraud.yaml: costCenter:"),
    ("onboard-team", {"domain": "logistics"}, "dev", "tenants/fraud.yaml: domain:"),
    (
        "onboard-team",
        {"github": {"team": "@other-org/fraud"}},
        "dev",
        "tenants/fraud.yaml: github.team:",
    ),
    ("onboard-team", {"github": {"team": "acme/fraud"}}, "dev", "tenants/fraud.yaml: github.team:"),
    (
        "onboard-team",
        {"owners": ["arn:aws:iam::123456789012:role/commerce-platform-squad"]},
        "dev",
        "tenants/fraud.yaml: owners[0]:",
    ),
    ("onboard-team", {"quota": {"pods": 0}}, "dev", "tenants/fraud.yaml: quota.pods:"),
    ("onboard-team", {"quota": {"cpu": "4x"}}, "dev", "tenants/fraud.yaml: quota.cpu:"),
    ("onboard-team", {"name": "Fraud"}, "dev", "tenant 'Fraud' has no file tenants/Fraud.yaml"),
]


@pytest.mark.parametrize(
    "name,changes,stack,named", REFUSED, ids=[f"{c[0]}:{json.dumps(c[1])}" for c in REFUSED]
)
def test_what_the_plan_refuses_the_form_refuses(
    name: str, changes: dict[str, Any], stack: str, named: str, tmp_path: Path
) -> None:
    answers = {**SAMPLES[name], **changes}
    answers = {k: v for k, v in answers.items() if v is not None}
    answers = with_defaults(form(name), answers)
    assert form_errors(name, answers), f"the form accepts {changes}"
    root, _, added = order_project(name, answers, tmp_path, stack)
    assert not any(a.startswith("rewrites ") for a in added), added
    result = plan(root, stack)
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr, result.stderr


def test_the_browsers_validator_agrees(tmp_path: Path) -> None:
    """The same verdicts from ajv 8 as Backstage's form runs it (tests/backstage/forms.js): every
    sample order accepted, every answer the plan refuses refused; so the Python validator above
    is not the only judge."""
    cases: list[dict[str, Any]] = []
    for name in OFFERINGS:
        answers = with_defaults(form(name), SAMPLES[name])
        cases.append({"id": f"accept {name}", "schema": form(name), "answers": answers})
    for name, changes, _, _ in REFUSED:
        answers = {k: v for k, v in {**SAMPLES[name], **changes}.items() if v is not None}
        answers = with_defaults(form(name), answers)
        case_id = f"refuse {name} {json.dumps(changes)}"
        cases.append({"id": case_id, "schema": form(name), "answers": answers})
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    result = node("forms.js", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = json.loads(result.stdout)
    assert len(verdicts) == len(cases) == len(OFFERINGS) + len(REFUSED)
    accepted_wrongly = [
        i for i, errors in verdicts.items() if i.startswith("refuse") and not errors
    ]
    refused_wrongly = {i: e for i, e in verdicts.items() if i.startswith("accept") and e}
    assert accepted_wrongly == [] and refused_wrongly == {}


def test_an_existing_team_name_is_refused_and_would_rewrite_its_file(tmp_path: Path) -> None:
    for existing in sorted(p.stem for p in (ROOT / "tenants").glob("*.yaml")):
        answers = with_defaults(form("onboard-team"), {**SAMPLES["onboard-team"], "name": existing})
        assert form_errors("onboard-team", answers), existing
    root, _, added = order_project("onboard-team", answers, tmp_path)
    assert added == [f"rewrites tenants/{existing}.yaml"]


# --------------------------------------------------------------------------------------------------
# Generated, deterministic, checked for staleness


def test_templates_are_byte_identical_across_runs(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert pavedroad("catalog", "--out", str(again)).returncode == 0
    files = lambda d: {str(p.relative_to(d)): p.read_bytes() for p in d.rglob("*") if p.is_file()}
    first, second = files(generated / "templates"), files(again / "templates")
    assert first == second
    assert first == files(ROOT / "catalog" / "templates")
    assert len([p for p in first if p.endswith("/template.yaml")]) == len(OFFERINGS)


@pytest.mark.parametrize(
    "stale",
    [
        "templates/add-redis/template.yaml",
        f"templates/add-redis/skeleton/{templates.RESOURCE_FILE}{templates.TEMPLATE_EXTENSION}",
    ],
)
def test_check_catches_a_stale_template(stale: str, tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert pavedroad("catalog", "-C", str(root), "--check").returncode == 0
    path = root / "catalog" / stale
    path.write_text(path.read_text().replace("redis", "valkey"))
    (root / "catalog" / "templates" / "add-redis" / "skeleton" / "extra.njk").write_text("x")
    result = pavedroad("catalog", "-C", str(root), "--check")
    assert result.returncode == 1
    assert stale in result.stderr and "extra.njk" in result.stderr
    assert pavedroad("catalog", "-C", str(root)).returncode == 0
    assert pavedroad("catalog", "-C", str(root), "--check").returncode == 0
    assert not (root / "catalog" / "templates" / "add-redis" / "skeleton" / "extra.njk").exists()


def test_a_new_team_is_offered_once_the_stacks_list_it(tmp_path: Path) -> None:
    """The team list and the names taken are the stacks' tenants: onboarding a team and listing
    it regenerates the forms (and `--check` fails until the catalog is regenerated)."""
    root = copy_project(tmp_path)
    (root / "tenants" / "fraud.yaml").write_text(
        yaml.safe_dump({k: v for k, v in SAMPLES["onboard-team"].items()})
    )
    dev = root / "stacks" / "Pulumi.dev.yaml"
    document = yaml.safe_load(dev.read_text())
    document["config"]["paved-road:tenants"].append("fraud")
    dev.write_text(yaml.safe_dump(document))
    stale = pavedroad("catalog", "-C", str(root), "--check")
    assert stale.returncode == 1 and "templates/add-redis/template.yaml" in stale.stderr
    assert pavedroad("catalog", "-C", str(root)).returncode == 0
    teams = template("add-redis", root / "catalog")["spec"]["parameters"][0]["properties"]["team"]
    assert {"const": "fraud", "title": "Fraud"} in teams["oneOf"]
    taken = form("onboard-team", root / "catalog")["allOf"][0]["properties"]["name"]["not"]["enum"]
    assert "fraud" in taken


def longest_name(name: str, team: str) -> int:
    """The longest name the form allows `team` for offering `name`."""
    page = form(name)["allOf"][0]
    limits = [page["properties"]["name"].get("maxLength", 63)]
    limits += [
        condition["then"]["properties"]["name"]["maxLength"]
        for condition in page.get("allOf", [])
        if condition["if"]["properties"]["team"]["const"] == team
    ]
    pattern_limit = {"onboard-team": 40}.get(name, 40 if "app" in name else 30)
    return min(*limits, pattern_limit)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_names_as_long_as_the_forms_allow_plan_in_every_stack(stack: str, tmp_path: Path) -> None:
    """The lengths the forms derive from the stacks (AWS name limits once prefixed, ACM's limit
    on a host, the catalog's on an entity name) are short enough everywhere: every order at its
    longest, together in one pull request's worth of files, plans cleanly."""
    config = copy.deepcopy(stack_config(stack))
    (tmp_path / "project").mkdir()
    root = make_project(tmp_path / "project", config, stack)
    shutil.copytree(ROOT / "policies" / "config", root / "policies" / "config")
    letters = iter("bcdefghijk")
    for name in OFFERINGS[:-1]:
        sample = dict(SAMPLES[name])
        team = sample.get("team")
        letter = next(letters)
        sample["name"] = letter + "x" * (longest_name(name, team or "") - 1)
        if "image" in sample:
            sample["image"] = image(team, sample["name"])
        answers = with_defaults(form(name), sample)
        assert form_errors(name, answers) == [], name
        if name == "onboard-team":
            config["paved-road:tenants"].append(sample["name"])
        report = scaffold(name, answers, tmp_path / name)
        (pull_request,) = report["pullRequests"]
        for relative in pull_request["files"]:
            target = root / relative
            assert not target.exists(), relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(pull_request["dir"]) / relative, target)
    (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    result = plan(root, stack)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_repository_not_on_github_is_a_clear_error(tmp_path: Path) -> None:
    """The templates open GitHub pull requests: another host cannot be ordered against."""
    out = tmp_path / "out"
    result = pavedroad("catalog", "--out", str(out), "--repository-url", "https://git.example/a/b")
    assert result.returncode == 2
    assert "tool.pavedroad.catalog.repository: 'https://git.example/a/b'" in result.stderr
    assert not out.exists()


def test_names_taken_in_the_catalog_are_refused(tmp_path: Path) -> None:
    """A new entity's name is `<team>-<name>`: a team `cert` cannot add an app `manager`, whose
    Component would be the platform's `cert-manager`; no team may be the platform's group or
    system."""
    for taken in ("platform", "paved-road"):
        answers = with_defaults(form("onboard-team"), {**SAMPLES["onboard-team"], "name": taken})
        assert form_errors("onboard-team", answers), taken
    root = copy_project(tmp_path)
    (root / "tenants" / "cert.yaml").write_text(
        yaml.safe_dump({**SAMPLES["onboard-team"], "name": "cert", "displayName": "Cert"})
    )
    dev = root / "stacks" / "Pulumi.dev.yaml"
    document = yaml.safe_load(dev.read_text())
    document["config"]["paved-road:tenants"].append("cert")
    dev.write_text(yaml.safe_dump(document))
    assert pavedroad("catalog", "-C", str(root)).returncode == 0
    schema = form("add-app-batch-job", root / "catalog")
    answers = {
        "team": "cert",
        "name": "manager",
        "image": image("cert", "manager"),
        "schedule": "@daily",
    }
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(with_defaults(schema, answers)))
    assert errors and all("manager" in e.message for e in errors), errors
    answers["name"] = "rotation"
    assert not list(jsonschema.Draft7Validator(schema).iter_errors(with_defaults(schema, answers)))
