"""A real AWS API emulator for the tests of boto3 code: moto in server mode on loopback.

The code under test talks HTTP to it exactly as it would to AWS (`AWS_ENDPOINT_URL` points boto3
at it; nothing is stubbed). One server runs per test session in its own process on a free port;
`aws` resets its state before each test, so every test starts from an empty account.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterator

import pytest

REGION = "eu-west-1"
# moto's default account: what STS GetCallerIdentity answers.
ACCOUNT_ID = "123456789012"


@dataclass(frozen=True)
class MotoServer:
    endpoint: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def environment(self) -> dict[str, str]:
        """What a process needs to talk to this server instead of AWS: the endpoint and dummy
        credentials (never real ones: the variables a developer's shell may hold are replaced)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    port = _free_port()
    # The server logs every request (and each unimplemented action's traceback) to stderr: into a
    # file, since a pipe nobody drains fills up and blocks the server mid-session.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        # A real account has AWS's managed policies (AdministratorAccess, ReadOnlyAccess, ...).
        env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    server = MotoServer(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                server.reset()
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    stderr = log.read().decode(errors="replace")[-4000:]
                    pytest.fail(f"moto's server did not start on port {port}: {stderr}")
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """An empty account behind a real HTTP API; this process's boto3 is pointed at it."""
    moto_server.reset()
    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in moto_server.environment().items():
        monkeypatch.setenv(key, value)
    return moto_server
