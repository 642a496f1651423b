"""What the plan's speed rests on, checked so that it can never change what the plan says.

Each speed-up either must produce the same bytes as the plain way (the plan.json writer, the
lazily loaded SDK packages) or leans on an SDK internal that an upgrade could move; those are
named here one by one and fail loudly instead of the plan going quietly wrong. Timings are
measured in benchmarks/, never asserted here.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import gc
import inspect
import json
import math
import subprocess
import sys
import textwrap
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from pavedroad import engine, lazy_sdk
from pavedroad.plan import dumps_indented, plan_document
from tests.conftest import ROOT, make_project, pavedroad, shipped_plan

STDLIB = dict(indent=2, sort_keys=True, ensure_ascii=False)


class _Text(str):
    pass


class _Count(int):
    pass


EDGE_CASES: list[Any] = [
    {},
    [],
    (),
    "",
    None,
    True,
    False,
    0,
    -7,
    2**70,
    1.0,
    -0.0,
    1e16,
    1.5e-300,
    0.1 + 0.2,
    math.nan,
    math.inf,
    -math.inf,
    'ünïcødé ✓ \u2028 \x00 \x1f " \\ / \n\t',
    {"b": [1, {"z": {}, "a": []}], "a": (True, None, 2.5), "é": "x", "A": {"nested": [[[]]]}},
    {"resources": [{"inputs": {"data": {"k": "[secret]"}, "replicas": 2}}] * 3},
    OrderedDict([("z", 1), ("a", 2)]),
    {"sub": _Text("a str subclass"), "count": _Count(3), "flag": [False, True]},
]


@pytest.mark.parametrize("document", EDGE_CASES, ids=range(len(EDGE_CASES)))
def test_plan_json_writer_writes_jsons_own_bytes(document: Any) -> None:
    assert dumps_indented(document) == json.dumps(document, **STDLIB)


@pytest.mark.parametrize(
    "document",
    [
        {1: "int key"},
        {None: 1, "a": 2},
        {"set": {1, 2}},
        {"object": object()},
        # Found after pieces of the text were written: the writer starts over.
        {"resources": [{"a": 1}, {"inputs": {2: "int key"}}]},
        {"resources": [{"a": 1}, {"inputs": {"set": {1, 2}}}], "z": 1},
    ],
    ids=["int-key", "none-key", "set", "object", "deep-int-key", "deep-set"],
)
def test_plan_json_writer_leaves_anything_else_to_json(document: Any) -> None:
    try:
        expected: Any = json.dumps(document, **STDLIB)
    except (TypeError, ValueError) as error:
        expected = type(error)
    try:
        actual: Any = dumps_indented(document)
    except (TypeError, ValueError) as error:
        actual = type(error)
    assert actual == expected


def test_plan_json_writer_on_cycles_raises_like_json() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_indented({"loop": cycle})


def test_shipped_plans_are_written_with_jsons_own_bytes(stack: str, tmp_path: Path) -> None:
    from pavedroad.plan import render_plan_json, write_plan_json

    run = shipped_plan(stack)
    document = plan_document(run)
    assert dumps_indented(document) == json.dumps(document, **STDLIB)
    # The file, written a resource at a time, holds the same bytes.
    written = write_plan_json(run, tmp_path, [r.to_json() for r in run.resources])
    assert written.read_bytes() == render_plan_json(run).encode()


def test_manifests_rendered_one_by_one_are_the_whole_files_bytes(stack: str) -> None:
    """kubernetes.yaml is rendered a document at a time, as objects are planned: joined, the
    documents are exactly what `yaml.dump_all` writes for all of them at once, and read back they
    are the objects."""
    import yaml

    from pavedroad.plan import kubernetes_objects, render_kubernetes_yaml

    run = shipped_plan(stack)
    objects = kubernetes_objects(run.resources)
    options: dict[str, Any] = {"sort_keys": True, "default_flow_style": False, "width": 100}
    rendered = render_kubernetes_yaml(run)
    assert rendered == yaml.dump_all(objects, Dumper=yaml.CSafeDumper, **options)
    assert list(yaml.safe_load_all(rendered)) == objects


# The SDK packages the plan loads lazily (every service package the program touches).
PLANNED_PACKAGES = [
    "pulumi_aws.ec2",
    "pulumi_aws.iam",
    "pulumi_aws.eks",
    "pulumi_aws.kms",
    "pulumi_aws.cloudwatch",
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.rbac.v1",
    "pulumi_kubernetes.storage.v1",
    "pulumi_kubernetes.meta.v1",
]

_COMPARE = textwrap.dedent("""
    import importlib, json, sys, types
    lazy = sys.argv[1] == "lazy"
    if lazy:
        from pavedroad import lazy_sdk
        lazy_sdk.install()
    def describe(value):
        if isinstance(value, types.ModuleType):
            return "module " + value.__name__
        return type(value).__name__ + " " + getattr(value, "__module__", "?") + "." + getattr(
            value, "__qualname__", repr(value)[:80])
    result = {}
    for package in sys.argv[2:]:
        module = importlib.import_module(package)
        module.typing  # a provider's own lazy module loads on first attribute access
        recognised = type(module).__name__ == "_LazyPackage"
        names = sorted(json.loads(sys.stdin.readline())) if lazy else sorted(
            n for n in vars(module) if not n.startswith("__"))
        described = {n: describe(getattr(module, n)) for n in names}
        # Still lazy after every name: none needed the real __init__ to resolve.
        recognised = recognised and type(module).__name__ == "_LazyPackage"
        result[package] = {"recognised": recognised, "names": described}
    print(json.dumps(result))
    """)


def _names(mode: str, stdin: str = "") -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _COMPARE, mode, *PLANNED_PACKAGES],
        input=stdin,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_lazy_sdk_packages_bind_every_name_as_a_real_import_does() -> None:
    """Every name a real import of each package binds resolves, lazily, to the same object.

    Fails when an SDK upgrade changes the generated `__init__` shape (the package is then no
    longer recognised and would load whole: correct but slow) or a name resolves differently."""
    real = _names("real")
    stdin = "".join(json.dumps(list(real[p]["names"])) + "\n" for p in PLANNED_PACKAGES)
    lazy = _names("lazy", stdin)
    for package in PLANNED_PACKAGES:
        assert lazy[package]["recognised"], f"{package}: __init__ no longer in generated shape"
        assert lazy[package]["names"] == real[package]["names"], package


def test_exported_names_reads_multiline_all(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import x\n__all__ = [\n    'A',\n    \"B\",\n]\n" + "#\n" * 10_000)
    assert lazy_sdk.exported_names(module) == ["A", "B"]
    (tmp_path / "n.py").write_text("A = 1\n")
    assert lazy_sdk.exported_names(tmp_path / "n.py") is None


def test_engine_patches_sdk_internals_that_still_exist() -> None:
    """The SDK internals the plan engine replaces while planning (pavedroad/engine.py)."""
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    # 1. The per-resource stack walk, replaced by an empty trace.
    assert callable(sdk_resource._get_stack_trace)
    assert "_get_stack_trace()" in inspect.getsource(sdk_resource.register_resource)
    assert isinstance(source_pb2.StackTrace(), source_pb2.StackTrace)
    # 2. Monitor calls go through the loop's default executor, replaced by an inline one.
    assert "run_in_executor" in inspect.getsource(sdk_resource.register_resource)
    assert "None, wrap_with_context(do_rpc_call)" in inspect.getsource(
        sdk_resource.register_resource
    )
    # 3. pulumi's lazy module swaps its class back *before* running the loader, which is what
    #    lets a lazy SDK package keep its own module class (pavedroad/lazy_sdk.py).
    from pulumi import _utils

    source = inspect.getsource(_utils._LazyModule.__getattribute__)
    assert source.index("self.__class__ = types.ModuleType") < source.index("exec_module(self)")


def test_engine_restores_the_runtime_after_planning() -> None:
    import uvloop
    from pulumi.runtime import resource as sdk_resource

    original = sdk_resource._get_stack_trace
    collecting = gc.isenabled()
    with engine._fast_mock_runtime():
        assert not gc.isenabled()
        assert sdk_resource._get_stack_trace is not original
        loop = asyncio.get_event_loop()
        assert isinstance(loop, uvloop.Loop)
        # Monitor calls run on the spot, in this thread, not in a worker thread.
        ran_in = loop.run_until_complete(loop.run_in_executor(None, threading.get_ident))
        assert ran_in == threading.get_ident()
    assert sdk_resource._get_stack_trace is original
    assert gc.isenabled() == collecting
    assert loop.is_closed()
    with pytest.raises(RuntimeError):
        asyncio.get_event_loop()  # none left set: the SDK makes itself a new one


def test_a_synchronous_provider_function_fails_the_plan_saying_what_to_write(
    tmp_path: Path,
) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        "import pulumi, pulumi_aws as aws\n"
        "pulumi.export('account', aws.get_caller_identity().account_id)\n"
    )
    project = make_project(tmp_path, {"aws:region": "us-east-1"})
    with pytest.raises(engine.SynchronousInvokeError, match="get_caller_identity_output"):
        engine.PlanEngine("test", project, program=program).run()
    # Its `_output` form runs.
    program.write_text(
        "import pulumi, pulumi_aws as aws\n"
        "pulumi.export('account', aws.get_caller_identity_output().account_id)\n"
    )
    assert engine.PlanEngine("test", project, program=program).run().outputs["account"]


_SDK_MODULES = ("pulumi_aws", "pulumi_eks", "pulumi_kubernetes", "pulumi_random")


def _synchronous_provider_calls(source: str) -> list[str]:
    """`get_*(...)` calls on a provider SDK module (or a package of one) that are not the
    `_output` form, in a module's source."""
    tree = ast.parse(source)
    sdk_names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _SDK_MODULES:
                    sdk_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in _SDK_MODULES:
            sdk_names.update(alias.asname or alias.name for alias in node.names)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            root = function
            while isinstance(root, ast.Attribute):
                root = root.value
            if (
                name is not None
                and name.startswith("get_")
                and not name.endswith("_output")
                and isinstance(root, ast.Name)
                and root.id in sdk_names
            ):
                found.append(f"line {node.lineno}: {ast.unparse(function)}()")
    return found


def test_the_program_calls_provider_functions_only_in_their_output_form() -> None:
    assert _synchronous_provider_calls(
        "import pulumi_aws as aws\nfrom pulumi_aws import ec2\n"
        "aws.get_caller_identity()\nec2.get_vpc(id='x')\naws.get_region_output()\n"
    ) == ["line 3: aws.get_caller_identity()", "line 4: ec2.get_vpc()"]
    files = sorted((ROOT / "components").rglob("*.py")) + [ROOT / "__main__.py"]
    found = {
        str(path.relative_to(ROOT)): calls
        for path in files
        if (calls := _synchronous_provider_calls(path.read_text()))
    }
    assert found == {}


BAD_OBJECTS = [
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "x"},
        "data": {"k": 1},
    },
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}, "spek": {}},
]


@pytest.mark.parametrize("version_when", ["first", "midway", "never", "another"])
def test_the_check_process_runs_every_check_on_the_plan(stack: str, version_when: str) -> None:
    """What `pavedroad plan` prints from the second process is what the checks say in this one:
    objects checked as they are recorded, in any order, whenever the cluster's version is known
    (or checked again when the plan's version turns out to be another)."""
    from pavedroad.check import check_resources, mandatory_notice, pack_config, render
    from pavedroad.checker import PlanChecker
    from pavedroad.plan import kubernetes_objects, kubernetes_version, render_kubernetes_yaml
    from pavedroad.schema import check_manifests

    run = shipped_plan(stack)
    version = kubernetes_version(run)
    manifests = kubernetes_objects(run.resources) + BAD_OBJECTS  # plan order
    recorded = list(reversed(range(len(manifests))))  # recorded in another order
    resources = [resource.to_json() for resource in run.resources]
    with PlanChecker(ROOT, stack) as checker:
        assert checker.config_error() is None
        if version_when in ("first", "another"):
            checker.cluster_version(version if version_when == "first" else "1.30")
        for count, plan_index in enumerate(recorded):
            if version_when == "midway" and count == len(recorded) // 2:
                checker.cluster_version(version)
            checker.observe(count, manifests[plan_index])
        order = [recorded.index(plan_index) for plan_index in range(len(manifests))]
        checker.submit(order, resources, version)
        result = checker.result()
    report = check_resources(resources, stack, ROOT, pack_config(ROOT, stack))
    expected = [str(v) for v in check_manifests(manifests, version)]
    assert len(expected) == len(BAD_OBJECTS)
    assert result.schema_violations == expected
    assert result.policy_report == render(report)
    assert result.policy_notice == mandatory_notice(report)
    assert result.policy_exit_code == report.exit_code
    # kubernetes.yaml, rendered object by object as they came, in plan order.
    assert result.manifests_yaml == render_kubernetes_yaml(run, manifests)


@pytest.mark.skipif(sys.platform == "win32", reason="the failure is injected through fork")
def test_a_failing_check_process_fails_the_plan_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from pavedroad import schema
    from pavedroad.checker import CheckerFailed, PlanChecker

    def broken(*_: Any) -> Any:
        raise RuntimeError("schema checker broke")

    monkeypatch.setattr(schema, "violation_in", broken)  # inherited by the forked checker
    with PlanChecker(ROOT, "dev") as checker:
        assert checker.config_error() is None
        checker.observe(0, BAD_OBJECTS[0])
        checker.submit([0], [], "1.35")
        with pytest.raises(CheckerFailed, match="schema checker broke"):
            checker.result()
