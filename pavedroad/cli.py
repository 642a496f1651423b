"""The `pavedroad` command line: `python -m pavedroad plan|check|diff|catalog|codeowners|bootstrap|doctor …`.

Exit codes follow one contract across commands: 0 clean, 1 a mandatory policy or schema violation,
2 bad input (configuration, files, arguments) — and with 2 nothing was applied or written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from pavedroad.checker import PlanChecker

EXIT_OK, EXIT_VIOLATION, EXIT_BAD_INPUT = 0, 1, 2


def _plan(args: argparse.Namespace) -> int:
    from pavedroad.checker import PlanChecker

    project_dir = Path(args.project_dir)
    sys.stdout.flush()  # nothing buffered may be inherited by the checking process
    # The checks load in a second process while this one imports the SDKs and runs the program.
    with PlanChecker(project_dir, args.stack) as checker:
        from components.config import ConfigError
        from pavedroad.engine import StackFileError, run_program

        try:
            config_error = checker.config_error()
            if config_error is not None:
                # The program reads the same input files (domains/) more closely: its account,
                # with lines and fields, comes first when it has one.
                from pavedroad.catalog import load_stack

                load_stack(args.stack, project_dir)
                raise _BadInput(config_error)
            observer = _Observer(checker)
            run = run_program(args.stack, project_dir, observer)
        except (ConfigError, StackFileError, _BadInput) as error:
            print(str(error), file=sys.stderr)
            print(
                "Nothing was planned. Fix the configuration and run the plan again.",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        return _write_and_check(args, run, checker, observer)


def _write_and_check(
    args: argparse.Namespace, run: Any, checker: "PlanChecker", observer: "_Observer"
) -> int:
    from pavedroad.plan import kubernetes_objects_of, kubernetes_version, summary, write_plan_json

    objects = kubernetes_objects_of(run.resources)
    version = kubernetes_version(run)
    # Judged (and kubernetes.yaml rendered) in the checking process while this one writes plan.json.
    order = [observer.index_of(resource) for resource, _ in objects]
    resources = [resource.to_json() for resource in run.resources]
    checker.submit(order, resources, version)
    out_dir = Path(args.out) if args.out else Path(args.project_dir) / "build" / args.stack
    plan_path = write_plan_json(run, out_dir, resources)
    print(summary(run))
    checked = checker.result()
    manifests_path = out_dir / "kubernetes.yaml"
    manifests_path.write_text(checked.manifests_yaml)
    print(f"\nWrote {_shown(plan_path)} and {_shown(manifests_path)}")
    if checked.schema_violations:
        print(
            f"\n{len(checked.schema_violations)} Kubernetes schema violation(s) for {version}:",
            file=sys.stderr,
        )
        for violation in checked.schema_violations:
            print(f"  {violation}", file=sys.stderr)
    else:
        print(f"Kubernetes objects valid for {version}.")
    print()
    print(checked.policy_report)
    if checked.policy_notice:
        print(checked.policy_notice, file=sys.stderr)
    failed = checked.schema_violations or checked.policy_exit_code != EXIT_OK
    return EXIT_VIOLATION if failed else EXIT_OK


class _Observer:
    """Hands each recorded Kubernetes object (and the cluster's version) to the checker at once."""

    def __init__(self, checker: "PlanChecker") -> None:
        from pavedroad.plan import is_kubernetes_object, kubernetes_version_of, manifest_of

        self.checker = checker
        self.indices: dict[int, int] = {}  # id of each recorded object → its number
        self.version_sent = False
        self.is_object, self.version_of, self.manifest_of = (
            is_kubernetes_object,
            kubernetes_version_of,
            manifest_of,
        )

    def __call__(self, resource: Any) -> None:
        if not self.version_sent and (version := self.version_of(resource)) is not None:
            self.checker.cluster_version(version)
            self.version_sent = True
        if self.is_object(resource):
            index = self.indices[id(resource)] = len(self.indices)
            self.checker.observe(index, self.manifest_of(resource))

    def index_of(self, resource: Any) -> int:
        return self.indices[id(resource)]


class _BadInput(Exception):
    """Bad input found outside this process (the pack config, read by the checking process)."""


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _check(args: argparse.Namespace) -> int:
    from pavedroad.check import check_file

    config = Path(args.policy_config) if args.policy_config else None
    return check_file(Path(args.plan), Path(args.project_dir), config)


def _catalog(args: argparse.Namespace) -> int:
    from pavedroad import catalog

    out = Path(args.out) if args.out else None
    return catalog.main(Path(args.project_dir), out, args.check, args.repository_url)


def _codeowners(args: argparse.Namespace) -> int:
    from pavedroad import codeowners

    return codeowners.main(Path(args.project_dir), args.check, Path(args.out) if args.out else None)


def _bootstrap(args: argparse.Namespace) -> int:
    from pavedroad import bootstrap

    return bootstrap.run(
        Path(args.project_dir), args.region, args.name, args.repository, args.dry_run
    )


def _doctor(args: argparse.Namespace) -> int:
    from pavedroad import doctor

    return doctor.main(
        args.stack, Path(args.project_dir), args.state_bucket, args.secrets_key, args.strict
    )


def _diff(args: argparse.Namespace) -> int:
    from pavedroad import diff

    return diff.main([args.base, args.head, *(["--markdown"] if args.markdown else [])])


def _upgrade(args: argparse.Namespace) -> int:
    from pavedroad import upgrade

    return upgrade.main(args.stack, args.to, Path(args.project_dir), args.write)


def _dora(args: argparse.Namespace) -> int:
    from pavedroad import dora

    return dora.main(args.history, Path(args.repo), args.since, args.until, args.json)


def _add_dora(commands: Any) -> None:
    from pavedroad.dora_definitions import HELP

    dora = commands.add_parser(
        "dora",
        help="DORA's four keys from the production stacks' update history and git",
        description="DORA's four keys (deployment frequency, lead time, change failure rate,\n"
        "time to restore) for a period, per production stack and per tenant, from\n"
        "`pulumi stack history --json` and the git history of the repository.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dora.add_argument(
        "--history",
        action="append",
        required=True,
        metavar="STACK=FILE",
        help="`pulumi stack history --json` output of a production stack (repeatable)",
    )
    dora.add_argument(
        "--repo", default=".", help="git checkout holding the deployed commits (default: .)"
    )
    dora.add_argument(
        "--since", help="first day of the period, YYYY-MM-DD (default: until - 30 days)"
    )
    dora.add_argument(
        "--until", help="day after the period, YYYY-MM-DD, excluded (default: today, UTC)"
    )
    dora.add_argument("--json", action="store_true", help="the figures as JSON")
    dora.set_defaults(handler=_dora)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 2 like every other bad input (argparse's default too, made explicit)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"pavedroad: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _project_dir_option(parser: argparse.ArgumentParser, holding: str) -> None:
    parser.add_argument(
        "-C",
        "--project-dir",
        default=str(Path(__file__).resolve().parent.parent),
        help=f"directory with {holding} (default: this checkout)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pavedroad", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    plan = commands.add_parser("plan", help="offline plan of a stack under the mock runtime")
    plan.add_argument("stack", nargs="?", default="dev", help="stack name (default: dev)")
    plan.add_argument(
        "--out", help="directory for plan.json and kubernetes.yaml (default: build/STACK)"
    )
    _project_dir_option(plan, "Pulumi.yaml and stacks/")
    plan.set_defaults(handler=_plan)

    check = commands.add_parser("check", help="run the policy pack over a saved plan.json")
    check.add_argument("plan", help="a plan.json written by `pavedroad plan`")
    check.add_argument(
        "--policy-config",
        help="pack config (Pulumi's --policy-pack-config format; "
        "default: policies/config/STACK.json when present)",
    )
    _project_dir_option(check, "stacks/ and policies/config/")
    check.set_defaults(handler=_check)

    diff = commands.add_parser("diff", help="what changes between two plan.json files")
    diff.add_argument("base", help="plan.json of the base branch")
    diff.add_argument("head", help="plan.json of the pull request")
    diff.add_argument("--markdown", action="store_true", help="output for a pull-request comment")
    diff.set_defaults(handler=_diff)

    catalog = commands.add_parser("catalog", help="Backstage catalog of the tenants and stacks")
    catalog.add_argument("--out", help="directory of the catalog (default: PROJECT_DIR/catalog)")
    catalog.add_argument(
        "--check", action="store_true", help="exit 1 when the catalog on disk is stale"
    )
    catalog.add_argument(
        "--repository-url",
        help="repository the source-location annotations point at "
        "(default: [tool.pavedroad.catalog] repository in pyproject.toml)",
    )
    _project_dir_option(catalog, "stacks/ and tenants/")
    catalog.set_defaults(handler=_catalog)

    codeowners = commands.add_parser(
        "codeowners",
        help=".github/CODEOWNERS from governance.yaml, domains/ and tenants/",
    )
    codeowners.add_argument("--out", help="file to write (default: PROJECT_DIR/.github/CODEOWNERS)")
    codeowners.add_argument(
        "--check", action="store_true", help="exit 1 when the file on disk is stale"
    )
    _project_dir_option(codeowners, "governance.yaml, domains/ and tenants/")
    codeowners.set_defaults(handler=_codeowners)

    bootstrap = commands.add_parser(
        "bootstrap", help="create the state bucket, KMS keys and CI deploy roles in an account"
    )
    bootstrap.add_argument("--region", required=True, help="region of the bucket and keys")
    bootstrap.add_argument(
        "--name", help="prefix of the bucket and key aliases (default: the Pulumi project name)"
    )
    bootstrap.add_argument(
        "--repository",
        help="GitHub OWNER/NAME the pipeline roles trust "
        "(default: [tool.pavedroad.catalog] repository in pyproject.toml)",
    )
    bootstrap.add_argument("--dry-run", action="store_true", help="print what would change")
    _project_dir_option(bootstrap, "Pulumi.yaml and stacks/")
    bootstrap.set_defaults(handler=_bootstrap)

    doctor = commands.add_parser("doctor", help="preflight of the AWS account for a stack")
    doctor.add_argument("stack", help="stack name (stacks/Pulumi.STACK.yaml)")
    doctor.add_argument(
        "--state-bucket",
        help="Pulumi's state bucket (default: PULUMI_BACKEND_URL's, else bootstrap's name)",
    )
    doctor.add_argument(
        "--secrets-key",
        help="KMS key of the secrets provider (default: the stack file's secretsprovider, "
        "else alias/paved-road-secrets)",
    )
    doctor.add_argument(
        "--strict", action="store_true", help="exit 1 also when a check could not be run"
    )
    _project_dir_option(doctor, "Pulumi.yaml and stacks/")
    doctor.set_defaults(handler=_doctor)

    upgrade = commands.add_parser(
        "upgrade", help="preflight of a Kubernetes upgrade of a stack (a plan, never an apply)"
    )
    upgrade.add_argument("stack", help="stack name (stacks/Pulumi.STACK.yaml)")
    upgrade.add_argument("--to", required=True, help="target Kubernetes minor, e.g. 1.36")
    upgrade.add_argument(
        "--write",
        action="store_true",
        help="when nothing blocks, write the cluster.version change into the stack file",
    )
    _project_dir_option(upgrade, "Pulumi.yaml, stacks/ and tenants/")
    upgrade.set_defaults(handler=_upgrade)

    _add_dora(commands)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)
