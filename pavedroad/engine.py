"""The plan engine: runs the real `__main__.py` under Pulumi's mock runtime and records it.

The program is not told it is being planned: the same code that `pulumi up` runs registers its
resources here with a monitor that records every request as the engine would receive it (type,
name, parent, options, inputs with wire names), while `PlatformMocks` answers with realistic,
deterministic ids and ARNs. The tests use this engine too — one harness, not two.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import json
import re
import runpy
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from google.protobuf import struct_pb2
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

try:  # not built for Windows: asyncio's own loop there
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

from components import safe_yaml
from pavedroad import lazy_sdk
from pavedroad.mocks import PlatformMocks

# The provider SDKs' service packages load module by module as the program uses them (see
# pavedroad/lazy_sdk.py): installed before the program, or anything, imports a provider SDK.
lazy_sdk.install()

SECRET = "[secret]"
ROOT = Path(__file__).resolve().parent.parent
# Where Pulumi.yaml says the stack files are (`stackConfigDir`).
STACK_CONFIG_DIR = "stacks"


class StackFileError(Exception):
    """The stack file itself cannot be read: missing, not YAML, or not a Pulumi stack file."""


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: Optional[str]
    custom: bool
    provider: str
    protect: bool
    dependencies: tuple[str, ...]
    inputs: dict[str, Any]
    # Options that change how an update happens; only those set (see `update_options`).
    options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "provider": self.provider,
            "protect": self.protect,
            "dependencies": list(self.dependencies),
            "inputs": self.inputs,
            "options": self.options,
        }


@dataclass
class PlanRun:
    """What one run of the program registered, and what it exported."""

    project: str
    stack: str
    resources: list[RecordedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def by_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def get(self, urn: str) -> RecordedResource:
        return next(r for r in self.resources if r.urn == urn)


def redact(value: Any) -> Any:
    """Replace every secret with a marker, at any depth, so no secret reaches a plan file.

    Whole numbers come back as integers: the wire carries every number as a double, and `2.0`
    replicas would read as a mistake in a manifest.
    """
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            # A secret mapping (a Secret's `data`/`stringData`) keeps its keys, not its values,
            # so the manifest keeps its shape and still validates.
            inner = value.get("value")
            if isinstance(inner, dict) and rpc._special_sig_key not in inner:
                return {key: SECRET for key in inner}
            return SECRET
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def update_options(request: Any) -> dict[str, Any]:
    """The options of a RegisterResource request that change how Pulumi updates the resource,
    only those set, so a reviewer (and a policy) sees a replacement's order, what is ignored and
    what survives a delete: deleteBeforeReplace, replaceOnChanges, ignoreChanges, retainOnDelete.
    Lists are sorted: their order carries no meaning, and plans stay byte-identical."""
    options: dict[str, Any] = {}
    if request.deleteBeforeReplaceDefined and request.deleteBeforeReplace:
        options["deleteBeforeReplace"] = True
    if request.replaceOnChanges:
        options["replaceOnChanges"] = sorted(request.replaceOnChanges)
    if request.ignoreChanges:
        options["ignoreChanges"] = sorted(request.ignoreChanges)
    if request.HasField("retainOnDelete") and request.retainOnDelete:
        options["retainOnDelete"] = True
    return options


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock resource monitor that keeps every registration request as the engine sees it."""

    def __init__(
        self, mocks: PlatformMocks, on_record: Optional[Callable[[RecordedResource], None]] = None
    ) -> None:
        super().__init__(mocks)
        self.mocks: PlatformMocks = mocks
        self.recorded: list[RecordedResource] = []
        # Told of each registration as it is recorded (the plan's checks start on it at once).
        self.on_record = on_record
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN as the Pulumi engine builds it: the parent's full qualified type, then ours.

        (The SDK's mock keeps only the parent's own type, so nested resources would get URNs no
        real stack ever has.)
        """
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join(
            [settings.get_stack(), settings.get_project(), type_, name]
        )

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 — the gRPC method name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        resource_args = pulumi_mocks.MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
        )
        id_, state = self.mocks.provider_outputs(resource_args)
        response_object = struct_pb2.Struct()
        response_object.update(state)
        recorded = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            provider=request.provider,
            protect=bool(request.protect),
            dependencies=tuple(sorted(set(request.dependencies))),
            inputs=redact(inputs),
            options=update_options(request),
        )
        with self._lock:
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, id_, state)
            self.recorded.append(recorded)
        if self.on_record is not None:
            self.on_record(recorded)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=response_object)

    def Invoke(self, request: Any) -> Any:  # noqa: N802 — the gRPC method name
        """Provider functions (caller identity, zones), answered without re-entering the loop."""
        if request.tok == "pulumi:pulumi:getResource":
            return super().Invoke(request)
        args = rpc.deserialize_properties(request.args)
        result = self.mocks.call(pulumi_mocks.MockCallArgs(request.tok, args, request.provider))
        response = struct_pb2.Struct()
        response.update(result)
        return resource_pb2.ResourceInvokeResponse(failures=None, **{"return": response})


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each monitor call on the spot instead of in a worker thread.

    The SDK sends every registration to the monitor through `run_in_executor`, built for a gRPC
    call to a real engine. The mock monitor answers instantly from memory, so the thread hand-off
    and its task churn were most of the plan's time; the answers, and so the recording, are the
    same either way.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except (
            BaseException
        ) as error:  # noqa: BLE001 — handed to the awaiting task, as a thread would
            future.set_exception(error)
        return future


@contextlib.contextmanager
def _fast_mock_runtime() -> Iterator[None]:
    """Run the SDK without the costs that only a real engine needs, on an event loop of its own.

    The loop is uvloop's where it is installed: a plan is some 80 loop callbacks per resource
    (each output a future, each `apply` a task), and uvloop runs them in C, about a tenth of a
    40-tenant plan faster than asyncio's loop; the callbacks, and so the plan, are the same. The
    one thing it lacks, re-entering a running loop, is what a synchronous provider function
    would need (`aws.get_x()`); the program calls only their `_output` forms
    (tests/test_plan_speed.py checks it), and a synchronous call fails the plan with a
    `SynchronousInvokeError` that says so.

    Besides the inline executor: the SDK walks the Python stack for every resource to report its
    source position to the engine. The plan records no source positions, and the walk cost about
    a fifth of the plan's time, so it is skipped while planning.
    """
    loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    original_trace = sdk_resource._get_stack_trace
    sdk_resource._get_stack_trace = lambda: source_pb2.StackTrace()
    loop.set_default_executor(_InlineExecutor())
    # A plan allocates many small objects that all live until it ends, so the cyclic collector
    # finds little: even collecting rarely (every 50,000 allocations) it spent a fifth of a
    # 40-tenant plan rescanning survivors. It is off while planning; the cyclic garbage the SDK
    # leaves (finished tasks) waits until after, which costs about a tenth more peak memory
    # (950 MiB for the 500-tenant `pavedroad plan`, measured with benchmarks/plan_scale.py).
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        sdk_resource._get_stack_trace = original_trace
        asyncio.set_event_loop(None)  # whoever needs one next makes a new one
        loop.close()


class SynchronousInvokeError(RuntimeError):
    """The program called a provider function in its synchronous form, which the plan's event
    loop cannot run (see `_fast_mock_runtime`)."""


@contextlib.contextmanager
def _synchronous_invokes_named() -> Iterator[None]:
    """A synchronous provider function fails deep in the SDK, where it re-enters the running
    loop through asyncio internals uvloop does not have; say what happened and what to write."""
    try:
        yield
    except AttributeError as error:
        if uvloop is None or not isinstance(error.obj, uvloop.Loop):
            raise
        raise SynchronousInvokeError(
            "the program called a provider function synchronously (e.g. `aws.get_caller_identity()`"
            "); call its `_output` form instead (`aws.get_caller_identity_output()`), which "
            "takes and returns outputs and which the plan runs"
        ) from error


# Pulumi's rules: a project name is letters, digits, `-`, `_` and `.` (at most 100); a stack name
# the same with no `/` here (the plan takes a local stack file's name).
_PROJECT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# A stack-file config key: `<namespace>:<name>`, each part non-empty and without `:`.
_CONFIG_KEY = re.compile(r"[^:\s]+:[^:\s]+")


def _read_yaml(root: Path, relative: str) -> Any:
    """An input file through the one safe loader; its problems as a StackFileError."""
    try:
        return safe_yaml.load_file(root, relative)
    except safe_yaml.MissingFileError:
        raise
    except safe_yaml.InputFileError as error:
        raise StackFileError(str(error)) from None


def project_name(root: Path = ROOT) -> str:
    """Pulumi.yaml's `name`. The plan reads stack files from `stacks/` and no project-level
    config, so a Pulumi.yaml that would make `pulumi up` read other config is refused."""
    try:
        document = _read_yaml(root, "Pulumi.yaml")
    except safe_yaml.MissingFileError:
        raise StackFileError(
            f"{root / 'Pulumi.yaml'}: no such file (is {root} a Pulumi project directory?)"
        ) from None
    if not isinstance(document, dict):
        raise StackFileError("Pulumi.yaml: (file): expected a mapping (name, runtime, ...)")
    name = document.get("name")
    problems = []
    if not isinstance(name, str) or not _PROJECT_NAME.fullmatch(name):
        shown = safe_yaml.sanitize(repr(name), 80)
        problems.append(
            f"Pulumi.yaml: name: {shown} is not a project name (letters, digits, '-', '_', '.'; "
            "at most 100)"
            if name is not None
            else "Pulumi.yaml: name: is required"
        )
    if document.get("stackConfigDir", STACK_CONFIG_DIR) != STACK_CONFIG_DIR:
        problems.append(
            f"Pulumi.yaml: stackConfigDir: must be {STACK_CONFIG_DIR!r}: the plan reads the stack "
            "files `pulumi up` reads"
        )
    if "config" in document:
        problems.append(
            "Pulumi.yaml: config: project-level config is not supported: set values in the "
            f"stack files under {STACK_CONFIG_DIR}/, where the plan reads them"
        )
    if problems:
        raise StackFileError("\n".join(problems))
    return name


def load_stack_config(stack: str, root: Path = ROOT) -> tuple[dict[str, str], list[str]]:
    """The stack file's config as the Pulumi CLI hands it to a program: strings, objects as JSON.

    Secure values cannot be decrypted without the stack's secrets provider, so offline they are
    passed as a marker and kept secret; the plan shows that a secret is set, never its value.
    """
    if not _STACK_NAME.fullmatch(stack):
        raise StackFileError(
            f"{safe_yaml.sanitize(repr(stack), 80)} is not a stack name (letters, digits, "
            "'-', '_', '.')"
        )
    relative = f"{STACK_CONFIG_DIR}/Pulumi.{stack}.yaml"
    try:
        document = _read_yaml(root, relative)
    except safe_yaml.MissingFileError:
        available = sorted(
            p.name[len("Pulumi.") : -len(".yaml")]
            for p in (root / STACK_CONFIG_DIR).glob("Pulumi.*.yaml")
        )
        raise StackFileError(
            f"{relative}: no such stack file (stacks: {', '.join(available)})"
        ) from None
    document = {} if document is None else document
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise StackFileError(f"{relative}: config: expected a mapping of config keys")
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    problems: list[str] = []
    for key, value in (document.get("config") or {}).items():
        if not _CONFIG_KEY.fullmatch(key):
            # The Pulumi CLI files a bare key under the project (`tenants` is read as
            # `paved-road:tenants`, and which one wins when both are there depends on map
            # order); a key is written in full here, so a file means one thing.
            shown = safe_yaml.sanitize(repr(key), 80)
            problems.append(
                f"{relative}: config.{safe_yaml.sanitize(key, 80)}: the key {shown} is not "
                "`<namespace>:<name>` (e.g. 'paved-road:tenants', 'aws:region')"
            )
        elif isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECRET
            secret_keys.append(key)
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(value)
    if problems:
        raise StackFileError("\n".join(problems))
    return config, secret_keys


async def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    from pulumi import Output

    resolved = {}
    for name, value in outputs.items():
        output = Output.from_input(value)
        secret = await output.is_secret()
        resolved[name] = SECRET if secret else redact(await output.future())
    return resolved


class PlanEngine:
    """One run of the program for one stack. `recorded` holds what was registered, even when the
    program failed — which is how the tests prove that bad configuration registers nothing."""

    def __init__(
        self,
        stack: str,
        root: Path = ROOT,
        program: Optional[Path] = None,
        on_record: Optional[Callable[[RecordedResource], None]] = None,
    ) -> None:
        self.on_record = on_record
        self.stack = stack
        self.root = root
        self.program = program or ROOT / "__main__.py"
        self.recorded: list[RecordedResource] = []

    def run(self) -> PlanRun:
        """Run the program under the mock runtime; raises the program's own exceptions unchanged
        (a `ConfigError` for bad configuration)."""
        project = project_name(self.root)
        config, secret_keys = load_stack_config(self.stack, self.root)
        monitor = RecordingMonitor(
            PlatformMocks(region=config.get("aws:region", "us-east-1")), self.on_record
        )
        self.recorded = monitor.recorded

        code_root = str(self.program.parent)
        if code_root not in sys.path:
            sys.path.insert(0, code_root)
        program = str(self.program)
        with _fast_mock_runtime():
            settings.ROOT.set(None)
            set_all_config(config, secret_keys)
            pulumi_mocks.set_mocks(  # the stack resource's futures belong to the runtime's loop
                monitor.mocks, project=project, stack=self.stack, preview=False, monitor=monitor
            )
            # Like the Pulumi CLI, run the program in the project directory (tenant files there).
            with contextlib.chdir(self.root), _synchronous_invokes_named():
                _sync_await(run_pulumi_func(lambda: runpy.run_path(program, run_name="__main__")))
            exported = dict(getattr(settings.get_root_resource(), "outputs", {}))
            outputs = _sync_await(_resolve_outputs(exported))
        # The recording is all a plan keeps: let the SDK's resource graph go.
        settings.ROOT.set(None)
        monitor.resources.clear()
        return PlanRun(
            project=project,
            stack=self.stack,
            resources=sorted(monitor.recorded, key=lambda r: r.urn),
            outputs=outputs,
        )


def run_program(
    stack: str,
    root: Path = ROOT,
    on_record: Optional[Callable[[RecordedResource], None]] = None,
) -> PlanRun:
    return PlanEngine(stack, root, on_record=on_record).run()
