"""Hostile input files: every malformed or malicious stack file, tenant file, `apps:` section or
Pulumi.yaml stops the plan with exit 2, names the file and the field (or line), prints no
traceback, writes no plan, and never echoes a byte of a file outside the project.

Each case runs the real command line (`python -m pavedroad plan test -C <project>`) in a fresh
process under a time limit (a FIFO or an alias bomb must not hang it) and an address-space limit
(an alias bomb or a huge file must not exhaust the machine). A secret marker is planted in a file
outside the project; symbolic links point at it, and it must never appear in the output.

Background for the YAML cases: go-yaml v3, the Pulumi CLI's YAML library, refuses duplicate keys
("mapping key ... already defined") and decodes timestamps and YAML 1.1 booleans (`yes`, `on`)
into untyped values as strings; the Pulumi CLI files a bare stack-config key under the project
(sdk/go/common/workspace/loaders.go, `stackConfigNamespacedWithProject`, in pulumi/pulumi), which
these files must not rely on (see components/safe_yaml.py and pavedroad/engine.py).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import ROOT, copy_ownership

TIME_LIMIT_S = 60
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space of the plan process: 1.5 GiB
SECRET = "OUTSIDE-SECRET-7f3a9c"
STACK = "stacks/Pulumi.test.yaml"
TENANT = "tenants/search.yaml"

# The search squad's file, minimal: what each tenant case starts from.
SEARCH = """\
name: search
costCenter: cc-3050
domain: discovery
owners: [arn:aws:iam::123456789012:role/search-admins]
"""
APP = """\
apps:
  - name: search-api
    template: api-service
    image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/search/search-api:5.2.0
"""


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclass
class Project:
    root: Path
    outside: Path  # a folder beside the project holding secrets

    def write(self, relative: str, content: str | bytes) -> None:
        path = self.root / relative
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")

    def stack(self, text: str) -> None:
        self.write(STACK, text)

    def tenant(self, text: str | bytes) -> None:
        self.write(TENANT, text)

    def tenants_entry(self, replacement: str) -> None:
        """The stack file with `- search` in paved-road:tenants replaced by `replacement`."""
        text = (self.root / STACK).read_text()
        self.stack(text.replace("    - search\n", replacement))

    def link(self, relative: str, target: Path | str) -> None:
        path = self.root / relative
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        path.symlink_to(target)


def make(tmp_path: Path) -> Project:
    root, outside = tmp_path / "project", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "tenants", root / "tenants")
    copy_ownership(root)
    (root / "stacks").mkdir()
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", root / STACK)
    (root / TENANT).write_text(SEARCH + APP)
    # A credentials-like file, not valid YAML on its second line (so a parser that reads it
    # would quote that line in its error).
    (outside / "credentials").write_text(
        f"[default]\naws_secret_access_key = {SECRET}\n{SECRET}: [unclosed\n"
    )
    (outside / "tenants").mkdir()
    (outside / "tenants" / "search.yaml").write_text(f"name: search\n{SECRET}: {SECRET}\n[\n")
    return Project(root, outside)


def plan(project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pavedroad", "plan", "test", "-C", str(project.root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIME_LIMIT_S,
        preexec_fn=_limits,
    )


# --------------------------------------------------------------------------------------------------
# The corpus: (category, setup, file named, field or line named)

Setup = Callable[[Project], None]
CASES: dict[str, tuple[str, Setup, str, str]] = {}


def case(name: str, category: str, file: str, where: str) -> Callable[[Setup], Setup]:
    def register(setup: Setup) -> Setup:
        assert name not in CASES, name
        CASES[name] = (category, setup, file, where)
        return setup

    return register


def tenant_case(name: str, category: str, text: str | bytes, where: str) -> None:
    case(name, category, TENANT, where)(lambda p: p.tenant(text))


def stack_case(name: str, category: str, text: str | bytes, where: str) -> None:
    case(name, category, STACK, where)(lambda p: p.stack(text))


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        aliases = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{aliases}]")
    return "\n".join(lines) + "\n"


# Encoding
tenant_case("latin-1 byte", "encoding", b"name: search\ncostCenter: caf\xe9\n", "line 2")
tenant_case("binary file", "encoding", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "line 1")
tenant_case("utf-16", "encoding", SEARCH.encode("utf-16"), "line 1")
tenant_case("NUL byte", "encoding", SEARCH + "displayName: a\x00b\n", "line 5")
tenant_case("terminal escape", "encoding", SEARCH + "displayName: \x1b[2Jx\n", "line 5")
stack_case("stack not utf-8", "encoding", b"config:\n  aws:region: eu-west-\xff\n", "line 2")
stack_case("stack control character", "encoding", "config:\n  aws:region: \x07\n", "line 2")
case("Pulumi.yaml not utf-8", "encoding", "Pulumi.yaml", "line 1")(
    lambda p: p.write("Pulumi.yaml", b"name: paved-road\xc3\x28\n")
)

# Structure
tenant_case("tenant file is a list", "structure", "- name: search\n", "(file)")
tenant_case("tenant file is a string", "structure", "search\n", "(file)")
tenant_case("tenant file is empty", "structure", "", "(file)")
tenant_case("two documents", "structure", SEARCH + "---\nname: other\n", "line 5")
tenant_case("unclosed flow sequence", "structure", "name: search\nowners: [a, b\n", "line 3")
tenant_case("tab indentation", "structure", "name: search\nquota:\n\tcpu: 4\n", "line 3")
stack_case("stack config is a list", "structure", "config:\n  - aws:region\n", "config")
stack_case("stack file is a list", "structure", "- config\n", "config")
case("Pulumi.yaml without a name", "structure", "Pulumi.yaml", "name")(
    lambda p: p.write("Pulumi.yaml", "runtime: python\nstackConfigDir: stacks\n")
)
case("Pulumi.yaml name is a number", "structure", "Pulumi.yaml", "name")(
    lambda p: p.write("Pulumi.yaml", "name: 42\nruntime: python\nstackConfigDir: stacks\n")
)
case("Pulumi.yaml name traverses", "structure", "Pulumi.yaml", "name")(
    lambda p: p.write("Pulumi.yaml", "name: ../x\nruntime: python\nstackConfigDir: stacks\n")
)
case("Pulumi.yaml project config", "structure", "Pulumi.yaml", "config")(
    lambda p: p.write(
        "Pulumi.yaml",
        "name: paved-road\nruntime: python\nstackConfigDir: stacks\n"
        "config:\n  paved-road:production:\n    value: false\n",
    )
)
case("Pulumi.yaml other stack folder", "structure", "Pulumi.yaml", "stackConfigDir")(
    lambda p: p.write("Pulumi.yaml", "name: paved-road\nruntime: python\nstackConfigDir: other\n")
)

# Duplicate keys, at any depth
stack_case(
    "duplicate config section",
    "duplicates",
    "config:\n  aws:region: eu-west-1\nconfig:\n  aws:region: us-east-1\n",
    "line 3",
)
stack_case(
    "duplicate config key",
    "duplicates",
    "config:\n  aws:region: eu-west-1\n  aws:region: us-east-1\n",
    "config.aws:region",
)
stack_case(
    "duplicate nested stack key",
    "duplicates",
    "config:\n  aws:region: eu-west-1\n  paved-road:network:\n    cidr: 10.0.0.0/16\n"
    "    cidr: 0.0.0.0/0\n",
    "config.paved-road:network.cidr",
)
tenant_case("duplicate tenant name", "duplicates", SEARCH + "name: payments\n", "name (line 5")
tenant_case(
    "duplicate nested quota",
    "duplicates",
    SEARCH + "quota:\n  cpu: '4'\n  cpu: '400'\n",
    "quota.cpu",
)
tenant_case(
    "duplicate key in an app",
    "duplicates",
    SEARCH + APP + "    image: evil.example.com/x:1\n",
    "apps[0].image",
)
tenant_case(
    "duplicate key quoted and plain", "duplicates", SEARCH + '"costCenter": cc-1\n', "costCenter"
)

# Keys that are not strings, and stack keys without a namespace
tenant_case("integer key", "keys", SEARCH + "1: x\n", "line 5")
tenant_case("null key", "keys", SEARCH + "~: x\n", "line 5")
tenant_case("boolean key", "keys", SEARCH + "true: x\n", "line 5")
tenant_case("sequence key", "keys", SEARCH + "? [a, b]\n: x\n", "line 5")
tenant_case("mapping key", "keys", SEARCH + "? {a: 1}\n: x\n", "line 5")
tenant_case("non-string key in quota", "keys", SEARCH + "quota:\n  5: cpu\n", "quota (line 6")
stack_case(
    "integer stack key", "keys", "config:\n  aws:region: eu-west-1\n  7: seven\n", "config (line 3"
)
stack_case(
    "bare stack key",
    "keys",
    "config:\n  aws:region: eu-west-1\n  tenants: [search]\n",
    "config.tenants",
)
stack_case("bare unknown stack key", "keys", "config:\n  foo: bar\n", "config.foo")
stack_case("empty namespace", "keys", "config:\n  ':region': eu-west-1\n", "config.:region")
stack_case(
    "three-part stack key",
    "keys",
    "config:\n  paved-road:config:production: 'true'\n",
    "config.paved-road:config:production",
)
stack_case(
    "non-string key inside a stack value",
    "keys",
    "config:\n  aws:region: eu-west-1\n  paved-road:network:\n    1: x\n",
    "config.paved-road:network (line 4",
)

# YAML features
tenant_case("billion laughs in a tenant", "yaml", SEARCH + billion_laughs(), "aliases")
stack_case("billion laughs in a stack", "yaml", "config:\n" + billion_laughs(), "aliases")
tenant_case("recursive alias", "yaml", SEARCH + "quota: &q {x: *q}\n", "line 5")
tenant_case("deep nesting", "yaml", SEARCH + "apps: " + "[" * 5000 + "]" * 5000 + "\n", "line 5")
tenant_case(
    "merge key", "yaml", SEARCH + "base: &b {cpu: '4'}\nquota:\n  <<: *b\n", "quota (line 7"
)
tenant_case("binary tag", "yaml", "name: search\ncostCenter: !!binary Y2MtMQ==\n", "costCenter")
tenant_case(
    "timestamp tag", "yaml", "name: search\ncostCenter: !!timestamp 2024-01-01\n", "costCenter"
)
tenant_case(
    "python object tag",
    "yaml",
    SEARCH + "displayName: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "displayName",
)
stack_case(
    "python name tag in a stack",
    "yaml",
    "config:\n  aws:region: !!python/name:os.system\n",
    "line 2",
)
stack_case(
    "timestamp tag in a stack",
    "yaml",
    "config:\n  aws:region: eu-west-1\n  paved-road:network: {cidr: !!timestamp 2024-01-01}\n",
    "config.paved-road:network.cidr",
)
stack_case(
    "binary tag in a stack", "yaml", "config:\n  aws:region: !!binary ZXUtd2VzdC0x\n", "line 2"
)
tenant_case("local tag", "yaml", SEARCH + "displayName: !Ref Something\n", "displayName")
tenant_case("set tag", "yaml", SEARCH + "viewers: !!set {a, b}\n", "viewers")
tenant_case("bool tag on text", "yaml", SEARCH + "decommission: !!bool maybe\n", "line 5")
tenant_case(
    "integer of 5000 digits", "yaml", SEARCH + "quota: {pods: " + "9" * 5000 + "}\n", "line 5"
)

# Sizes
tenant_case("tenant over 1 MiB", "sizes", SEARCH + "#" * (1024 * 1024) + "\n", "(file)")
stack_case("stack over 1 MiB", "sizes", "config:\n" + "#" * (1024 * 1024) + "\n", "(file)")
tenant_case("200,000 values", "sizes", SEARCH + "viewers:\n" + "- a\n" * 200_000, "values")
tenant_case(
    "half-megabyte value", "sizes", SEARCH + f"namespaces: [{'x' * 500_000}]\n", "namespaces"
)
tenant_case("1000-character key", "sizes", SEARCH + "k" * 1000 + ": 1\n", "kkkk")

# Symbolic links and special files
case("tenant linked outside", "files", TENANT, "outside the project")(
    lambda p: p.link(TENANT, p.outside / "credentials")
)
case("tenant linked to /etc/passwd", "files", TENANT, "outside the project")(
    lambda p: p.link(TENANT, "/etc/passwd")
)
case("tenant linked to a device", "files", TENANT, "outside the project")(
    lambda p: p.link(TENANT, "/dev/zero")
)
case("stack file linked outside", "files", STACK, "outside the project")(
    lambda p: p.link(STACK, p.outside / "credentials")
)
case("Pulumi.yaml linked outside", "files", "Pulumi.yaml", "outside the project")(
    lambda p: p.link("Pulumi.yaml", p.outside / "credentials")
)
case("tenants folder linked outside", "files", TENANT, "outside the project")(
    lambda p: p.link("tenants", p.outside / "tenants")
)
case("tenant path is a directory", "files", TENANT, "a directory")(
    lambda p: (p.write(TENANT, ""), (p.root / TENANT).unlink(), (p.root / TENANT).mkdir())
)
case("tenant is a FIFO", "files", TENANT, "FIFO")(
    lambda p: ((p.root / TENANT).unlink(), os.mkfifo(p.root / TENANT))
)
case("dangling link inside", "files", TENANT, "dangling")(
    lambda p: p.link(TENANT, p.root / "tenants" / "gone.yaml")
)
case("symbolic link loop", "files", TENANT, "loop")(lambda p: p.link(TENANT, p.root / TENANT))

# Injection strings in names and values
case("traversal in a tenant name", "injection", STACK, "paved-road:tenants[1]")(
    lambda p: p.tenants_entry("    - ../../outside/tenants/search\n")
)
case("newline in a tenant name", "injection", STACK, "paved-road:tenants[1]")(
    lambda p: p.tenants_entry('    - "search\\nstacks/Pulumi.test.yaml: fine: forged"\n')
)
case("escape sequence in a tenant name", "injection", STACK, "paved-road:tenants[1]")(
    lambda p: p.tenants_entry('    - "\\e[31msearch"\n')
)
case("look-alike tenant name", "injection", STACK, "paved-road:tenants[1]")(
    lambda p: p.tenants_entry("    - s\u0435arch\n")  # Cyrillic е
)
tenant_case(
    "right-to-left override", "injection", SEARCH.replace("cc-3050", "cc-\u202e0503"), "costCenter"
)
tenant_case(
    "template braces", "injection", SEARCH.replace("cc-3050", "'{{ .Values.x }}'"), "costCenter"
)
tenant_case("shell expansion", "injection", SEARCH + "namespaces: ['${HOME}']\n", "namespaces")
tenant_case(
    "traversal in an app name",
    "injection",
    APP.replace("search-api", "../x") + SEARCH,
    "apps[0].name",
)
tenant_case(
    "traversal in a namespace", "injection", SEARCH + "namespaces: [../kube-system]\n", "namespaces"
)

# Types
tenant_case("text for an integer", "types", SEARCH + "quota: {pods: many}\n", "quota.pods")
tenant_case("negative integer", "types", SEARCH + "quota: {pods: -5}\n", "quota.pods")
tenant_case("huge integer", "types", SEARCH + "quota: {pods: 99999999999999999999}\n", "quota.pods")
tenant_case("float for an integer", "types", SEARCH + "quota: {pods: 2.5}\n", "quota.pods")
tenant_case("infinity for an integer", "types", SEARCH + "quota: {pods: .inf}\n", "quota.pods")
tenant_case("text for a boolean", "types", SEARCH + "decommission: maybe\n", "decommission")
tenant_case("string for a list", "types", SEARCH.replace("[arn", "arn").replace("]", ""), "owners")
tenant_case("list for a mapping", "types", SEARCH + "quota: [1, 2]\n", "quota")
tenant_case("mapping for a list", "types", SEARCH + "apps: {}\n", "apps")
tenant_case("null name", "types", SEARCH.replace("name: search", "name: null"), "name")
tenant_case("port out of range", "types", SEARCH + APP + "    port: 70000\n", "apps[0].port")
tenant_case(
    "replicas far too many",
    "types",
    SEARCH + APP + "    replicas: 1000000000\n",
    "apps[0].replicas",
)

# Where the bad value came from: the stack file's overrides are the stack file's errors
case("override of a tenant field", "provenance", STACK, "paved-road:tenants[1].quota.cpu")(
    lambda p: p.tenants_entry("    - name: search\n      quota: {cpu: lots}\n")
)
case("overridden app host", "provenance", STACK, "paved-road:tenants[1].apps[0].host")(
    lambda p: p.tenants_entry(
        "    - name: search\n      apps:\n        - name: search-api\n"
        "          template: api-service\n"
        "          image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/search/a:1.0.0\n"
        "          host: argocd.elsewhere.example\n"
    )
)


def _two_files(project: Project) -> None:
    project.tenant(SEARCH + "quota: {pods: -1}\n")
    project.tenants_entry("    - name: search\n      quota: {cpu: lots}\n")


case("errors in both files at once", "provenance", STACK, "paved-road:tenants[1].quota.cpu")(
    _two_files
)


def _conflict_and_bad_file(project: Project) -> None:
    # search claims payments' namespace (cross-tenant) while storefront's own file is broken.
    project.tenant(SEARCH + "namespaces: [payments-jobs]\n")
    text = (project.root / "tenants" / "storefront.yaml").read_text()
    project.write("tenants/storefront.yaml", text + "decommission: maybe\n")


case("cross-tenant conflict with a broken file", "provenance", TENANT, "namespaces[0]")(
    _conflict_and_bad_file
)

# Self-service resources (components/resources_config.py)
tenant_case(
    "unknown resource type",
    "resources",
    SEARCH + "resources: [{name: db, type: mysql}]\n",
    "resources[0].type",
)
tenant_case(
    "unsupported postgres version",
    "resources",
    SEARCH + "resources: [{name: db, type: postgres, version: '9.6'}]\n",
    "resources[0].version",
)
tenant_case(
    "unknown size",
    "resources",
    SEARCH + "resources: [{name: db, type: redis, size: huge}]\n",
    "resources[0].size",
)
tenant_case(
    "two resources, one name",
    "resources",
    SEARCH + "resources: [{name: db, type: redis}, {name: db, type: postgres}]\n",
    "resources[1].name",
)
tenant_case(
    "dns for an app it lacks",
    "resources",
    SEARCH + APP + "resources: [{name: www, type: dns, app: checkout-api}]\n",
    "resources[0].app",
)
tenant_case(
    "not an event pattern",
    "resources",
    SEARCH + "resources: [{name: ev, type: events, source: {pattern: {source: aws.s3}}}]\n",
    "resources[0].source.pattern",
)
tenant_case(
    "event pattern of strange fields",
    "resources",
    SEARCH + "resources: [{name: ev, type: events, source: {pattern: {colour: [red]}}}]\n",
    "resources[0].source.pattern",
)
tenant_case(
    "resource name with a dot",
    "resources",
    SEARCH + "resources: [{name: a.b, type: redis}]\n",
    "resources[0].name",
)
tenant_case(
    "resources is a mapping", "resources", SEARCH + "resources: {db: postgres}\n", "resources"
)
case("overridden resource size", "resources", STACK, "paved-road:tenants[1].resources[0].size")(
    lambda p: p.tenants_entry(
        "    - name: search\n      resources: [{name: db, type: postgres, size: xl}]\n"
    )
)

# Fragments of the tenant file (components/tenant_fragments.py): the folder is walked, not followed
FRAGMENT = "tenants/search/apps/search-worker.yaml"
WORKER = """\
name: search-worker
template: batch-job
image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/search/search-worker:1.0.0
schedule: "0 1 * * *"
"""


def fragment_case(
    name: str, category: str, text: str | bytes, where: str, file: str = FRAGMENT
) -> None:
    case(name, category, file, where)(lambda p: p.write(file, text))


fragment_case("fragment in latin-1", "fragments", WORKER.encode() + b"x: caf\xe9\n", "line 5")
fragment_case("fragment is a list", "fragments", "- " + WORKER.replace("\n", "\n  "), "(file)")
fragment_case("fragment is empty", "fragments", "", "(file)")
fragment_case("fragment over 64 KiB", "fragments", WORKER + "#" * (64 * 1024) + "\n", "(file)")
fragment_case("billion laughs in a fragment", "fragments", WORKER + billion_laughs(), "aliases")
fragment_case("merge key in a fragment", "fragments", WORKER + "<<: {port: 1}\n", "line 5")
fragment_case(
    "fragment named for another app", "fragments", WORKER, "name", FRAGMENT[:-5] + "x.yaml"
)
fragment_case(
    "fragment repeats an app",
    "fragments",
    WORKER.replace("search-worker", "search-api"),
    "name",
    "tenants/search/apps/search-api.yaml",
)
fragment_case("fragment port out of range", "fragments", WORKER + "port: 70000\n", "port")
fragment_case("fragment not .yaml", "fragments", WORKER, "(file)", FRAGMENT[:-5] + ".yml")
case("unknown folder beside apps", "fragments", "tenants/search/cron", "(directory)")(
    lambda p: p.write("tenants/search/cron/x.yaml", WORKER)
)
# A name is printed escaped: no forged line, no terminal escape (the folder `a\nstacks` is named).
case("forged line in a fragment's name", "fragments", "tenants/search/apps/a\\nstacks", "(file)")(
    lambda p: p.write("tenants/search/apps/a\nstacks/Pulumi.test.yaml: fine: forged", WORKER)
)
case("terminal escape in a fragment's name", "fragments", "tenants/search/apps/\\x1b[2J", "(file)")(
    lambda p: p.write("tenants/search/apps/\x1b[2J", WORKER)
)


def _linked(relative: str, target: str) -> Setup:
    def setup(project: Project) -> None:
        (project.root / relative).parent.mkdir(parents=True, exist_ok=True)
        project.link(relative, project.outside / target)

    return setup


case("fragment linked outside", "fragments", FRAGMENT, "symbolic link")(
    _linked(FRAGMENT, "credentials")
)
case("apps folder linked outside", "fragments", "tenants/search/apps", "symbolic link")(
    _linked("tenants/search/apps", "tenants")
)
case("tenant folder linked outside", "fragments", "tenants/search", "symbolic link")(
    _linked("tenants/search", "tenants")
)


def _fifo(project: Project) -> None:
    (project.root / FRAGMENT).parent.mkdir(parents=True)
    os.mkfifo(project.root / FRAGMENT)


case("fragment is a FIFO", "fragments", FRAGMENT, "FIFO")(_fifo)


def _many_fragments(project: Project) -> None:
    for index in range(201):
        project.write(f"tenants/search/apps/a{index}.yaml", "[")


case("201 fragments", "fragments", "tenants/search/apps", "more than 200")(_many_fragments)

# --------------------------------------------------------------------------------------------------
# Ownership files: a domain file is written by people other than the core team

DOMAIN = "domains/discovery.yaml"
DISCOVERY = 'name: discovery\nsquad: {github: "@acme/discovery-platform"}\n'


def domain_case(name: str, text: str | bytes, where: str, file: str = DOMAIN) -> None:
    case(name, "ownership", file, where)(lambda p: p.write(file, text))


domain_case("domain in latin-1", DISCOVERY.encode() + b"displayName: caf\xe9\n", "line 3")
domain_case("domain NUL byte", DISCOVERY + "displayName: a\x00b\n", "line 3")
domain_case("domain is a list", "- " + DISCOVERY.replace("\n", "\n  "), "(file)")
domain_case("domain billion laughs", DISCOVERY + billion_laughs(), "aliases")
domain_case("domain duplicate key", DISCOVERY + "name: other\n", "name (line 3")
domain_case("domain lowers a rule", DISCOVERY + "policies: {tags-tenant: advisory}\n", "policies")
domain_case("domain names no rule", DISCOVERY + "policies: {no-such-rule: mandatory}\n", "policies")
domain_case("domain squad handle", DISCOVERY.replace("@acme/", "acme/"), "squad.github")
domain_case("domain over 64 KiB", DISCOVERY + "#" * (65 * 1024) + "\n", "(file)")
domain_case(
    "governance unknown field",
    'core: {github: "@acme/core"}\nsecurity: {github: "@acme/sec"}\nowner: me\n',
    "owner",
    "governance.yaml",
)
case("domain linked outside", "ownership", DOMAIN, "symbolic link")(_linked(DOMAIN, "credentials"))
case("domains folder is a file", "ownership", "domains", "(directory)")(
    lambda p: p.write("domains", DISCOVERY)
)
case("tenant names no domain", "ownership", TENANT, "domain")(
    lambda p: p.tenant(SEARCH.replace("domain: discovery", "domain: nowhere"))
)


ALSO_NAMED = {
    "errors in both files at once": f"{TENANT}: quota.pods",
    "cross-tenant conflict with a broken file": "tenants/storefront.yaml: decommission",
}


def test_the_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 60, len(CASES)
    categories = {category for category, *_ in CASES.values()}
    assert len(categories) >= 8, categories


def test_the_untouched_project_plans(tmp_path: Path) -> None:
    """The harness is not vacuous: the same project with no hostile change plans cleanly."""
    project = make(tmp_path)
    result = plan(project)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_refused_cleanly(name: str, tmp_path: Path) -> None:
    category, setup, file, where = CASES[name]
    project = make(tmp_path)
    setup(project)
    result = plan(project)
    output = result.stdout + result.stderr
    assert result.returncode == 2, f"exit {result.returncode}\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    assert "Nothing was planned" in result.stderr
    assert not (project.root / "build").exists(), "a refused input must write no plan"
    assert SECRET not in output, "content of a file outside the project was echoed"
    assert "root:x:0:0" not in output, "content of /etc/passwd was echoed"
    lines = result.stderr.splitlines()
    named = [line for line in lines if f"{file}: " in line and where in line]
    assert named, f"expected a line naming {file!r} and {where!r}:\n{result.stderr[-3000:]}"
    if name in ALSO_NAMED:
        assert ALSO_NAMED[name] in result.stderr, result.stderr[-3000:]
    # One line per problem, bounded, with nothing a terminal would interpret.
    assert all(len(line) <= 1200 for line in lines), max(map(len, lines))
    assert "\x1b" not in output and "\u202e" not in output
    assert not any(line.lstrip().startswith("stacks/Pulumi.test.yaml: fine") for line in lines)


# --------------------------------------------------------------------------------------------------
# Mutated fragments: what a careless edit (or a hostile one) makes of a good fragment

FRAGMENT_BASES = [
    (FRAGMENT, WORKER),
    (
        "tenants/search/apps/search-edge.yaml",
        "name: search-edge\ntemplate: api-service\n"
        "image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/search/search-edge:2.1.0\n"
        "port: 8081\nreplicas: 3\nenv: {LOG_LEVEL: info}\n"
        "probes: {readinessPath: /ready}\n"
        "release: {strategy: canary, analysis: {successRate: 0.99}}\n",
    ),
    ("tenants/search/resources/index-db.yaml", "name: index-db\ntype: postgres\nsize: medium\n"),
    ("tenants/search/resources/find.yaml", "name: find\ntype: dns\napp: search-api\n"),
    (
        "tenants/search/resources/reindex.yaml",
        "name: reindex\ntype: events\nsource:\n  schedule: rate(1 hour)\n",
    ),
]
PALETTE = list(":-[]{}&*!|>'\"#,? \t\n0aZ~%@`\\") + ["\x00", "\x1b", "\u202e", "é"]
TOKENS = ["&a ", "*a", "!!binary ", "!Ref ", "<<: ", "? ", "- ", "~", "1e999", "0x1F", "{", "]",
          "---\n", "null", "yes", "2026-01-01", "  ", "\n  - ", ": ", "'", "|\n"]  # fmt: skip
VALUES = ["", "~", "[]", "{}", "-1", "0", "99999999999999999999", ".inf", "true", "'x'", "[a, b]",
          "{x: 1}", "api-service", "batch-job", "kafka-consumer", "redis", "dns", "events",
          "search-api", "rate(5 minutes)", "cron(0 1 * * ? *)", "\"0 1 * * *\"", "80", "8080",
          "canary", "blueGreen", "search", "payments", "../x", "*a", "&a 1"]  # fmt: skip


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        operator = rng.randrange(6)
        if operator == 0 and text:
            at = min(at, len(text) - 1)
            text = text[:at] + rng.choice(PALETTE) + text[at + 1 :]
        elif operator == 1:
            text = text[:at] + text[at + rng.randint(1, 12) :]
        elif operator == 2:
            text = text[:at] + rng.choice(TOKENS) + text[at:]
        elif operator == 3:
            lines = text.splitlines(keepends=True) or [""]
            line = rng.randrange(len(lines))
            text = "".join(lines[: line + 1] + lines[line:])
        elif operator == 4:
            lines = text.splitlines(keepends=True)
            keyed = [i for i, line in enumerate(lines) if ": " in line]
            if keyed:
                i = rng.choice(keyed)
                key = lines[i].split(": ", 1)[0]
                lines[i] = f"{key}: {rng.choice(VALUES)}\n"
                text = "".join(lines)
        else:
            text = text[:at]
    return text


def test_mutated_fragments_are_accepted_or_refused_cleanly(tmp_path: Path) -> None:
    """Seeded, so a failure reproduces: each mutant is loaded through the program's whole config
    loader (as `pulumi up` and the plan load it) and must load or raise `ConfigError` naming a
    file of the tenant, on bounded single lines; the first accepted mutants are then planned."""
    from components.config import ConfigError
    from pavedroad.catalog import load_stack
    from pavedroad.engine import PlanEngine

    project = make(tmp_path)
    for file, base in FRAGMENT_BASES:  # each unmutated fragment is a good one
        project.write(file, base)
    load_stack("test", project.root)
    rng = random.Random(13)
    accepted: dict[str, tuple[str, str]] = {}
    refused = 0
    for _ in range(800):
        file, base = rng.choice(FRAGMENT_BASES)
        text = mutate(rng, base)
        shutil.rmtree(project.root / "tenants" / "search", ignore_errors=True)
        project.write(file, text)
        try:
            load_stack("test", project.root)
        except ConfigError as error:
            refused += 1
            assert error.issues, text
            for issue in error.issues:
                line = str(issue)
                assert "\n" not in line and "\x1b" not in line and len(line) <= 1200, line
                assert issue.file.startswith("tenants/search"), (text, line)
        else:
            accepted.setdefault(text, (file, text))
    # Both outcomes happen: the corpus neither only breaks nor only keeps the fragments.
    assert refused >= 300 and len(accepted) >= 10, (refused, len(accepted))
    for file, text in list(accepted.values())[:3]:
        shutil.rmtree(project.root / "tenants" / "search", ignore_errors=True)
        project.write(file, text)
        PlanEngine("test", project.root).run()
