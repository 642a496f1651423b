"""The plan's checks in a second process, so they run while the plan itself is being made.

`pavedroad plan` has two independent halves: making the plan (importing the provider SDKs and
running the program) and judging it (the pack config, the Kubernetes schemas, the policy rules).
The judge needs its own libraries loaded and its own work done; in one process all of it sat on
the plan's critical path. Here a second process loads the pack config and the checkers while the
program runs, schema-checks each Kubernetes object as soon as it is recorded and renders its
document of kubernetes.yaml, and runs the policy pack over the finished plan while the first
process writes plan.json.

Nothing is skipped or reordered for the user: the pack config and the domains' levels are still
read (and a bad one still stops everything with exit 2) before anything is registered, every schema and policy check runs
on exactly the resources written to plan.json, and the results come back to be printed in the
same order as before. The checks are the same functions `pavedroad check` and the tests call, and
kubernetes.yaml is the same bytes `pavedroad.plan.render_kubernetes_yaml` gives.
"""

from __future__ import annotations

import multiprocessing
import socket
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

# Fork where the platform has it: the child starts from the parent's few imports at once, instead
# of a fresh interpreter importing this module again.
_CONTEXT = multiprocessing.get_context(
    "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
)
# The objects come in bursts while the program's registrations drain, faster than they are checked
# one by one; with the socket's default buffer (about 200 KiB) the plan process then stalled in
# `send` for a tenth of a second of a 40-tenant plan. The kernel caps the size at its maximum.
_SOCKET_BUFFER = 8 << 20


@dataclass(frozen=True)
class CheckResult:
    """What the checks found, as text to print: plain data, so the plan process never loads the
    checkers to read it (that is the point of the second process)."""

    schema_violations: list[str]
    policy_report: str
    policy_notice: Optional[str]  # for stderr when mandatory violations fail the run
    policy_exit_code: int
    manifests_yaml: str  # kubernetes.yaml: the observed objects in plan order


class CheckerFailed(RuntimeError):
    """The checking process failed; the message holds its traceback."""


class PlanChecker:
    """A second process that judges one plan: `config_error()`, `observe(...)` each object and
    `cluster_version(...)` while planning, then `submit(...)` and `result()`.

    Used as a context manager, so the process is always reaped, whichever way the plan ends.
    """

    def __init__(self, root: Path, stack: str) -> None:
        self._connection, child = _buffered_pipe()
        self._process = _CONTEXT.Process(
            target=_serve, args=(child, str(root), stack), name="pavedroad-checks", daemon=True
        )
        self._process.start()
        child.close()
        self._pending = True

    def __enter__(self) -> "PlanChecker":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def config_error(self) -> Optional[str]:
        """The pack config's error message (the plan must then register nothing), or None."""
        kind, payload = self._receive()
        if kind == "config-error":
            self._pending = False
            return payload
        return None

    def observe(self, index: int, manifest: dict[str, Any]) -> None:
        """Kubernetes object number `index` (in the order recorded) is planned: the checker
        schema-checks it while the program goes on."""
        self._send(("object", index, manifest))

    def cluster_version(self, version: str) -> None:
        """The Kubernetes minor a recorded cluster runs: the schemas to check objects against."""
        self._send(("version", version))

    def submit(self, order: list[int], resources: list[dict[str, Any]], version: str) -> None:
        """Hand over the finished plan: the observed objects in plan order (their indices),
        the Kubernetes version it was planned for, `resources` (as plan.json holds them) for the
        policy pack."""
        self._send(("plan", order, resources, version))
        self._pending = False

    def result(self) -> CheckResult:
        """What the checks found, once they have run."""
        _, result = self._receive()
        return result

    def close(self) -> None:
        if self._pending:
            # The plan stopped early (bad configuration): tell the checker there is nothing to do.
            self._pending = False
            try:
                self._connection.send(None)
            except (BrokenPipeError, OSError):
                pass
        self._connection.close()
        self._process.join()

    def _send(self, message: Any) -> None:
        try:
            self._connection.send(message)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the checker stopped: its error, or its exit, is what `result()` reports

    def _receive(self) -> tuple[str, Any]:
        try:
            kind, payload = self._connection.recv()
        except EOFError:
            raise CheckerFailed(
                f"the checking process ended without an answer (exit code "
                f"{self._process.exitcode})"
            ) from None
        if kind == "error":
            raise CheckerFailed(f"the checking process failed:\n{payload}")
        return kind, payload


def _buffered_pipe() -> tuple[Connection, Connection]:
    """A duplex pipe, as `multiprocessing.Pipe()` makes it (a socket pair), with large buffers."""
    ends = socket.socketpair()
    for end in ends:
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            end.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER)
    return Connection(ends[0].detach()), Connection(ends[1].detach())


def _serve(connection: Connection, root: str, stack: str) -> None:
    """The checking process: the pack config first, then load the checkers, schema-check and
    render each object as it is planned, and once the plan is complete run the policy pack over
    it."""
    try:
        from pavedroad.check import PolicyConfigError, check_resources, mandatory_notice
        from pavedroad.check import load_domain_levels, pack_config, render

        try:
            config = pack_config(Path(root), stack)
            domains = load_domain_levels(Path(root))
        except PolicyConfigError as error:
            connection.send(("config-error", str(error)))
            return
        connection.send(("config", None))
        from pavedroad.plan import join_manifests, render_manifest
        from pavedroad.schema import violation_in

        objects: dict[int, dict[str, Any]] = {}
        documents: dict[int, str] = {}
        found: dict[int, Optional[str]] = {}
        version: Optional[str] = None  # the first cluster's, until the plan names its own
        while True:
            request = connection.recv()
            if request is None:
                return
            if request[0] == "object":
                _, index, manifest = request
                objects[index] = manifest
                documents[index] = render_manifest(manifest)
                if version is not None:
                    found[index] = _violation(violation_in(manifest, version))
            elif request[0] == "version":
                if version is None:
                    version = request[1]
                    for index, manifest in objects.items():
                        found[index] = _violation(violation_in(manifest, version))
            else:
                _, order, resources, planned_version = request
                break
        if planned_version != version:  # checked against another version (or none yet)
            found = {i: _violation(violation_in(m, planned_version)) for i, m in objects.items()}
        report = check_resources(resources, stack, Path(root), config, domains)
        result = CheckResult(
            schema_violations=[found[i] for i in order if found[i] is not None],  # type: ignore
            policy_report=render(report),
            policy_notice=mandatory_notice(report),
            policy_exit_code=report.exit_code,
            manifests_yaml=join_manifests(documents[i] for i in order),
        )
        connection.send(("result", result))
    except (EOFError, BrokenPipeError):
        return  # the plan process went away; nobody is waiting for an answer
    except BaseException:  # noqa: BLE001 — every failure goes back to be reported
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()


def _violation(violation: Any) -> Optional[str]:
    return None if violation is None else str(violation)
