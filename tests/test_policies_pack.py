"""The CrossGuard pack itself: it holds every rule, serves them to the Pulumi engine over the
analyzer protocol, and runs each rule's own function — with the engine's levels, config and
preview unknowns — exactly as the offline runner does."""

from __future__ import annotations

import copy
import importlib
import json
import pkgutil
import runpy
import subprocess
import sys
from typing import Any, Iterator
from unittest import mock

import grpc
import pulumi_policy
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime import proto
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import analyzer_pb2_grpc
from pulumi_policy import proxy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies import paved_road_policies
from policies.paved_road_policies import crossguard, registry
from policies.paved_road_policies.config import PackConfig, PolicyConfigError
from policies.paved_road_policies.core import (
    LEVELS,
    SEVERITIES,
    UNKNOWN,
    ResourceRule,
    Rule,
    StackRule,
    rules_of,
)
from tests.conftest import ROOT, shipped_plan

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
QUOTA = "kubernetes:core/v1:ResourceQuota"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"


def module_rules() -> dict[str, Rule]:
    """Every Rule defined in any module of the package — found by walking the package, so a
    rule module the registry forgot is found too."""
    found: dict[str, Rule] = {}
    for info in pkgutil.iter_modules(paved_road_policies.__path__):
        module = importlib.import_module(f"{paved_road_policies.__name__}.{info.name}")
        for rule in rules_of(module):
            if rule.concern == info.name:
                found[rule.name] = rule
    return found


def built_pack() -> dict[str, Any]:
    """Run policies/__main__.py the way the Pulumi CLI does (runpy over the directory) with
    PolicyPack captured instead of serving."""
    with mock.patch.object(pulumi_policy, "PolicyPack") as pack:
        runpy.run_path(str(ROOT / "policies"), run_name="__main__")
    assert pack.call_count == 1
    return pack.call_args.kwargs


def test_the_pack_holds_every_rule_of_every_rule_module() -> None:
    rules = module_rules()
    assert {rule.concern for rule in rules.values()} >= {
        "eks",
        "nodes",
        "kms",
        "iam",
        "network",
        "kubernetes",
        "tags",
    }
    pack = built_pack()
    assert pack["name"] == "paved-road"
    served = {policy.name: policy for policy in pack["policies"]}
    assert sorted(served) == sorted(rules), "a rule module's rules are missing from the pack"
    for name, rule in rules.items():
        policy = served[name]
        kind = (
            pulumi_policy.ResourceValidationPolicy
            if isinstance(rule, ResourceRule)
            else pulumi_policy.StackValidationPolicy
        )
        assert isinstance(policy, kind), name
        assert policy.enforcement_level.value == rule.level
        assert policy.severity.value == rule.severity
        assert policy.description == rule.description
        assert policy.remediation_steps == rule.remediation


def test_every_rule_is_fully_described() -> None:
    for rule in registry.RULES:
        assert rule.name.startswith(
            {"kubernetes": "k8s"}.get(rule.concern, rule.concern) + "-"
        ), rule.name
        assert rule.description.endswith(".") and len(rule.description) > 20, rule.name
        assert rule.remediation and rule.severity in SEVERITIES and rule.level in LEVELS
        for option, schema in rule.options.items():
            assert schema.get("type") and schema.get("description"), f"{rule.name}.{option}"
    assert len({r.name for r in registry.RULES}) == len(registry.RULES)
    assert any(isinstance(r, StackRule) for r in registry.RULES)
    assert any(r.level == "advisory" for r in registry.RULES)


# The analyzer protocol ----------------------------------------------------------------------


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


@pytest.fixture
def analyzer() -> _PolicyAnalyzerServicer:
    """The pulumi_policy servicer the pack's server runs, holding the pack's policies.

    It starts from an empty stack config, as the CLI hands a non-production stack's pack: the
    runtime config is process-wide, and a plan run earlier in the session (of prod, say) would
    otherwise leave `paved-road:production` set for the pack."""
    set_all_config({}, [])
    return _PolicyAnalyzerServicer(
        "paved-road",
        "1.0.0",
        crossguard.policies(registry.RULES),
        pulumi_policy.EnforcementLevel.MANDATORY,
    )


def recorded(stack: str, type_: str) -> dict[str, Any]:
    """A copy: the shipped plan is shared by every test of the session."""
    resource = next(r for r in shipped_plan(stack).resources if r.type == type_)
    return copy.deepcopy(resource.to_json())


def analyze(analyzer: _PolicyAnalyzerServicer, resource: dict[str, Any]) -> list[Any]:
    request = proto.AnalyzeRequest(
        type=resource["type"],
        properties=struct(resource["inputs"]),
        urn=resource["urn"],
        name=resource["name"],
        options=proto.AnalyzerResourceOptions(parent=resource.get("parent") or ""),
    )
    return list(analyzer.Analyze(request, None).diagnostics)


def analyze_stack(analyzer: _PolicyAnalyzerServicer, resources: list[dict[str, Any]]) -> list[Any]:
    request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                type=r["type"],
                properties=struct(r["inputs"]),
                urn=r["urn"],
                name=r["name"],
                parent=r.get("parent") or "",
                dependencies=r.get("dependencies") or [],
            )
            for r in resources
        ]
    )
    return list(analyzer.AnalyzeStack(request, None).diagnostics)


def configure(analyzer: _PolicyAnalyzerServicer, config: dict[str, Any]) -> None:
    """What the engine sends after reconciling `--policy-pack-config` with the pack's defaults."""
    levels = {"advisory": proto.ADVISORY, "mandatory": proto.MANDATORY, "disabled": proto.DISABLED}
    request = proto.ConfigureAnalyzerRequest()
    for name, value in config.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = levels[value.pop("enforcementLevel", "mandatory")]
        entry.properties.update(value)
    analyzer.Configure(request, None)


def test_crossguard_runs_the_rule_function_on_a_resource(analyzer: _PolicyAnalyzerServicer) -> None:
    template = recorded("dev", LAUNCH_TEMPLATE)
    assert analyze(analyzer, template) == []
    template["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    (diagnostic,) = analyze(analyzer, template)
    assert diagnostic.policyName == "nodes-imdsv2-required"
    assert diagnostic.enforcementLevel == proto.MANDATORY
    assert "httpTokens is 'optional'" in diagnostic.message


def test_crossguard_stack_policy_names_the_resource(analyzer: _PolicyAnalyzerServicer) -> None:
    resources = [r.to_json() for r in shipped_plan("dev").resources]
    assert analyze_stack(analyzer, resources) == []
    quota = next(r for r in resources if r["type"] == QUOTA)
    namespace = quota["inputs"]["metadata"]["namespace"]
    remaining = [r for r in resources if r is not quota]
    (diagnostic,) = analyze_stack(analyzer, remaining)
    assert diagnostic.policyName == "k8s-tenant-guardrails"
    assert diagnostic.urn.endswith(f"kubernetes:core/v1:Namespace::{namespace}-namespace")
    assert f"tenant namespace {namespace} has no ResourceQuota" in diagnostic.message


def test_crossguard_levels_come_from_the_pack_config(analyzer: _PolicyAnalyzerServicer) -> None:
    template = recorded("dev", LAUNCH_TEMPLATE)
    template["inputs"]["metadataOptions"]["httpTokens"] = "optional"
    configure(analyzer, {"nodes-imdsv2-required": {"enforcementLevel": "advisory"}})
    (diagnostic,) = analyze(analyzer, template)
    assert diagnostic.enforcementLevel == proto.ADVISORY
    configure(analyzer, {"nodes-imdsv2-required": {"enforcementLevel": "disabled"}})
    assert analyze(analyzer, template) == []


def test_values_unknown_in_a_preview_are_not_judged(analyzer: _PolicyAnalyzerServicer) -> None:
    template = recorded("dev", LAUNCH_TEMPLATE)
    template["inputs"]["metadataOptions"]["httpTokens"] = proxy.UNKNOWN_STRING_VALUE
    template["inputs"]["tags"] = proxy.UNKNOWN_OBJECT_VALUE
    assert analyze(analyzer, template) == []
    props = crossguard.plain(proxy.unknown_checking_proxy({"a": [proxy.UNKNOWN_NUMBER_VALUE, 2.0]}))
    assert props == {"a": [UNKNOWN, 2]}


@pytest.fixture
def stack_config() -> Iterator[Any]:
    """The stack config the Pulumi CLI hands a policy pack (restored afterwards)."""
    yield lambda config: set_all_config(config, [])
    set_all_config({}, [])


def rollout_without_analysis() -> dict[str, Any]:
    rollout = recorded("prod", ROLLOUT)
    strategy = rollout["inputs"]["spec"]["strategy"]
    for kind in ("canary", "blueGreen"):
        if kind in strategy:
            strategy[kind] = {
                k: v for k, v in strategy[kind].items() if "nalysis" not in k and k != "steps"
            }
    return rollout


def test_crossguard_reads_production_from_the_stack_config(
    analyzer: _PolicyAnalyzerServicer, stack_config: Any
) -> None:
    rollout = rollout_without_analysis()
    stack_config({"paved-road:production": "false"})
    assert analyze(analyzer, rollout) == []
    stack_config({"paved-road:production": "not a boolean"})
    assert analyze(analyzer, rollout) == []
    stack_config({"paved-road:production": "true"})
    (diagnostic,) = analyze(analyzer, rollout)
    assert diagnostic.policyName == "k8s-rollout-analysis-in-production"
    # The pack config's `production` option wins over the stack's.
    configure(analyzer, {"k8s-rollout-analysis-in-production": {"production": False}})
    assert analyze(analyzer, rollout) == []


def test_the_engine_sees_every_rule_with_its_schema(analyzer: _PolicyAnalyzerServicer) -> None:
    info = analyzer.GetAnalyzerInfo(None, None)
    policies = {p.name: p for p in info.policies}
    assert sorted(policies) == sorted(registry.BY_NAME)
    hop = policies["nodes-imdsv2-required"]
    assert hop.policy_type == proto.PolicyType.POLICY_TYPE_RESOURCE
    schema = json_format.MessageToDict(hop.configSchema)
    assert schema["properties"]["maxHopLimit"] == {
        "type": "integer",
        "default": 2,
        "description": "The highest IMDS hop limit allowed.",
    }
    guardrails = policies["k8s-tenant-guardrails"]
    assert guardrails.policy_type == proto.PolicyType.POLICY_TYPE_STACK
    assert guardrails.remediation_steps and guardrails.severity == proto.POLICY_SEVERITY_HIGH


def test_the_pack_serves_the_analyzer_protocol_as_the_cli_starts_it() -> None:
    """`pulumi preview --policy-pack policies` runs `python -m pulumi.policy <engine> policies`,
    reads the port the pack prints and calls it over gRPC."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(ROOT / "policies")],
        cwd=ROOT / "policies",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = analyzer_pb2_grpc.AnalyzerStub(channel)
            info = stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=60)
            assert info.name == "paved-road"
            assert sorted(p.name for p in info.policies) == sorted(registry.BY_NAME)
            template = recorded("dev", LAUNCH_TEMPLATE)
            template["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] = 3
            response = stub.Analyze(
                proto.AnalyzeRequest(
                    type=template["type"],
                    properties=struct(template["inputs"]),
                    urn=template["urn"],
                    name=template["name"],
                ),
                timeout=60,
            )
            assert [d.policyName for d in response.diagnostics] == [
                "nodes-imdsv2-required",
                "nodes-imds-hop-limit-one",
            ]
    finally:
        process.kill()
        process.wait()


# The pack config ------------------------------------------------------------------------------


def test_pack_config_resolves_levels_like_the_pulumi_engine() -> None:
    rule = registry.BY_NAME["nodes-imds-hop-limit-one"]
    other = registry.BY_NAME["nodes-imdsv2-required"]
    assert PackConfig().level(rule) == "advisory"
    config = PackConfig.parse(
        {"all": "advisory", "nodes-imds-hop-limit-one": {"enforcementLevel": "mandatory"}},
        "policies/config/test.json",
        registry.RULES,
    )
    assert config.level(rule) == "mandatory" and config.level(other) == "advisory"
    remediate = PackConfig.parse({"all": "remediate"}, "x.json", registry.RULES)
    assert remediate.reported_level(other) == "mandatory"
    options = PackConfig.parse({"nodes-imdsv2-required": {"maxHopLimit": 1}}, "x", registry.RULES)
    assert options.options(other) == {"maxHopLimit": 1}
    assert PackConfig().options(other) == {"maxHopLimit": 2}


@pytest.mark.parametrize(
    "document, message",
    [
        ({"nodes-imdsv2": "mandatory"}, "x.json: nodes-imdsv2: no such rule"),
        ({"all": "strict"}, "x.json: all: 'strict' is not an enforcement level"),
        ({"nodes-imdsv2-required": {"maxHopLimit": "2"}}, "maxHopLimit: '2' is not of type"),
        ({"nodes-imdsv2-required": {"hops": 2}}, "nodes-imdsv2-required.hops: no such option"),
        ({"nodes-imdsv2-required": 3}, "nodes-imdsv2-required: expected a level or an object"),
    ],
)
def test_bad_pack_config_names_file_and_key(document: Any, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message.replace(".", r"\.")):
        PackConfig.parse(document, "x.json", registry.RULES)


def test_shipped_pack_configs_are_valid() -> None:
    configs = sorted((ROOT / "policies" / "config").glob("*.json"))
    assert configs, "policies/config holds the per-environment pack configs"
    for path in configs:
        assert (ROOT / "stacks" / f"Pulumi.{path.stem}.yaml").is_file(), f"{path.name}: no stack"
        PackConfig.load(path, registry.RULES)
    prod = PackConfig.load(ROOT / "policies" / "config" / "prod.json", registry.RULES)
    assert prod.options(registry.BY_NAME["k8s-rollout-analysis-in-production"]) == {
        "production": True
    }


def test_pulumi_policy_yaml_runs_the_pack_with_python() -> None:
    project = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    requirements = (ROOT / "policies" / "requirements.txt").read_text()
    assert "pulumi-policy==1.21.0" in requirements
    program = (ROOT / "requirements.txt").read_text()
    pins = [line for line in requirements.splitlines() if "==" in line]
    assert all(pin in program for pin in pins), "the pack and the program pin the same versions"


def test_the_documentation_lists_every_rule_at_its_level() -> None:
    """The rule table in the README is the user's list."""
    text = (ROOT / "README.md").read_text()
    # The table of section "The rules", not any other four-column table of the README.
    section = text[text.index("### The rules\n") :]
    section = section[: section.index("\n### ", 1)]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = cells[2]
    assert rows == {rule.name: rule.level for rule in registry.RULES}


def test_crossguard_refuses_an_internet_facing_ingress_without_https(
    analyzer: _PolicyAnalyzerServicer,
) -> None:
    ingress = recorded("dev", "kubernetes:networking.k8s.io/v1:Ingress")
    assert analyze(analyzer, ingress) == []
    annotations = ingress["inputs"]["metadata"]["annotations"]
    annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTP": 80}]'
    del annotations["alb.ingress.kubernetes.io/ssl-redirect"]
    diagnostics = analyze(analyzer, ingress)
    assert [d.policyName for d in diagnostics] == ["k8s-ingress-https"] * 2
    assert all(d.enforcementLevel == proto.MANDATORY for d in diagnostics)
    assert "no HTTPS listener" in diagnostics[0].message


def test_crossguard_refuses_mutable_production_images_unless_declared_immutable(
    analyzer: _PolicyAnalyzerServicer, stack_config: Any
) -> None:
    rule = "k8s-images-immutable-in-production"
    resources = [r.to_json() for r in shipped_plan("prod").resources]
    stack_config({"paved-road:production": "true"})
    shipped = json.loads((ROOT / "policies" / "config" / "prod.json").read_text())[rule]
    configure(analyzer, {rule: copy.deepcopy(shipped)})
    assert [d for d in analyze_stack(analyzer, resources) if d.policyName == rule] == []
    configure(analyzer, {rule: {"production": True}})
    diagnostics = [d for d in analyze_stack(analyzer, resources) if d.policyName == rule]
    assert len(diagnostics) >= 5
    assert all(d.enforcementLevel == proto.MANDATORY for d in diagnostics)
    assert all("by a mutable tag in production" in d.message for d in diagnostics)
    configure(analyzer, {rule: {"production": True, "exemptImages": [f"{ECR}/"]}})
    assert [d for d in analyze_stack(analyzer, resources) if d.policyName == rule] == []


ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
