"""`pavedroad bootstrap` against moto's server: what it creates, read back through the API; that a
second run and a dry run write nothing (every call the client sends is recorded); how an existing
bucket is fixed or refused; bad usage."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from pavedroad import bootstrap
from tests.conftest import ROOT
from tests.moto_server import ACCOUNT_ID, REGION, MotoServer, aws, moto_server  # noqa: F401

BUCKET = f"paved-road-state-{ACCOUNT_ID}-{REGION}"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com"
REPO = "acme/paved-road"
STACKS = ("dev", "prod", "staging")


class Recorded:
    """A boto3 session whose clients report every operation they send to the server."""

    def __init__(self) -> None:
        self.session = boto3.Session()
        self.calls: list[str] = []
        self.session.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    @property
    def writes(self) -> list[str]:
        return [name for name in self.calls if not name.startswith(bootstrap.READ_PREFIXES)]


def run(*args: str, project: Path = ROOT) -> tuple[int, str, Recorded]:
    recorded, out = Recorded(), io.StringIO()
    options: dict[str, Any] = {"region": REGION}
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        if flag == "--dry-run":
            options["dry_run"] = True
        else:
            options[flag.lstrip("-")] = rest.pop(0)
    code = bootstrap.run(project, session=recorded.session, out=out, **options)
    return code, out.getvalue(), recorded


def cli(server: MotoServer, *args: str, env: dict[str, str] | None = None) -> Any:
    environment = {**os.environ, **server.environment(), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pavedroad", "bootstrap", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
    )


def key_of(alias: str) -> dict[str, Any]:
    return boto3.client("kms").describe_key(KeyId=alias)["KeyMetadata"]


# --------------------------------------------------------------------------------------------------
# The main path, as a user runs it


def test_first_run_creates_everything_with_the_settings(aws: MotoServer) -> None:
    result = cli(aws, "--region", REGION)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"account {ACCOUNT_ID}, region {REGION}, repository {REPO}"
    assert lines[1:11] == _created_lines()
    assert lines[11:] == [
        "",
        "Next:",
        f"  pulumi login 's3://{BUCKET}?region={REGION}'",
        *(
            f"  pulumi stack init {stack} --secrets-provider "
            f"'awskms://alias/paved-road-secrets?region={REGION}'"
            for stack in STACKS
        ),
        "",
        f"GitHub Actions for {REPO}:",
        f"  gh secret set AWS_ACCOUNT_ID --body {ACCOUNT_ID}",
        f"  gh secret set PULUMI_BACKEND_URL --body 's3://{BUCKET}?region={REGION}'",
        "  gh secret set PULUMI_SECRETS_PROVIDER --body "
        f"'awskms://alias/paved-road-secrets?region={REGION}'",
        "  and the GitHub environments dev, prod (required reviewers), staging",
    ]

    kms = boto3.client("kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    state_key, secrets_key = key_of("alias/paved-road-state"), key_of("alias/paved-road-secrets")
    assert aliases["alias/paved-road-state"] == state_key["KeyId"]
    assert aliases["alias/paved-road-secrets"] == secrets_key["KeyId"]
    assert state_key["KeyId"] != secrets_key["KeyId"]
    for key in (state_key, secrets_key):
        assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
        assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True

    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules == [
        {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": state_key["Arn"],
            },
            "BucketKeyEnabled": True,
        }
    ]
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(statement["Resource"]) == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    ownership = s3.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags["paved-road:project"] == "paved-road"

    iam = boto3.client("iam")
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [OIDC_ARN]
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=OIDC_ARN)
    assert provider["Url"].removeprefix("https://") == "token.actions.githubusercontent.com"
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize(
    "stack,subjects",
    [
        ("dev", [f"repo:{REPO}:environment:dev", f"repo:{REPO}:pull_request"]),
        ("staging", [f"repo:{REPO}:environment:staging", f"repo:{REPO}:pull_request"]),
        ("prod", f"repo:{REPO}:environment:prod"),
    ],
)
def test_each_pipeline_role_trusts_github_for_this_repository_only(
    aws: MotoServer, stack: str, subjects: Any
) -> None:
    assert run()[0] == 0
    iam = boto3.client("iam")
    role = iam.get_role(RoleName=f"paved-road-{stack}-pipeline")["Role"]
    (statement,) = bootstrap._policy_document(role["AssumeRolePolicyDocument"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": OIDC_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": subjects,
        }
    }
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    inline = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="pulumi-state")
    statements = {
        s["Sid"]: s for s in bootstrap._policy_document(inline["PolicyDocument"])["Statement"]
    }
    assert statements["StateObjects"]["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    assert statements["StateAndSecretsKeys"]["Condition"] == {
        "ForAnyValue:StringEquals": {
            "kms:ResourceAliases": ["alias/paved-road-secrets", "alias/paved-road-state"]
        }
    }
    tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
    assert tags["paved-road:environment"] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_each_deploy_role_is_the_stack_files_and_trusts_only_its_pipeline_role(
    aws: MotoServer, stack: str
) -> None:
    """EKS admits a principal once: the pipeline role creates the cluster (the creator's access
    entry), the deploy role gets the platform's; it is assumed by the pipeline role only and
    carries no permissions (its EKS token is a signed GetCallerIdentity)."""
    assert run()[0] == 0
    iam = boto3.client("iam")
    role = iam.get_role(RoleName=f"paved-road-{stack}-deploy")["Role"]
    # The role the stack file hands the cluster is the role that was made.
    assert role["Arn"] == json.loads(_stack_cluster(stack))["deployRoleArn"]
    assert bootstrap._policy_document(role["AssumeRolePolicyDocument"])["Statement"] == [
        {
            "Sid": "StackPipeline",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/paved-road-{stack}-pipeline"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == []
    assert role["RoleName"] != f"paved-road-{stack}-pipeline"


def _stack_cluster(stack: str) -> str:
    from pavedroad.engine import load_stack_config

    return load_stack_config(stack, ROOT)[0]["paved-road:cluster"]


# --------------------------------------------------------------------------------------------------
# Idempotence and dry runs: counted on the calls the client really sends


def test_the_first_run_is_seen_writing(aws: MotoServer) -> None:
    """The recorder sees the writes (so its silence on a second run means something)."""
    code, _, recorded = run()
    assert code == 0
    for operation in (
        "CreateKey",
        "EnableKeyRotation",
        "CreateAlias",
        "CreateBucket",
        "PutBucketEncryption",
        "PutBucketPolicy",
        "CreateOpenIDConnectProvider",
        "CreateRole",
        "AttachRolePolicy",
        "PutRolePolicy",
    ):
        assert operation in recorded.writes


def test_a_second_run_makes_no_call_that_writes_and_says_so(aws: MotoServer) -> None:
    assert run()[0] == 0
    code, out, recorded = run()
    assert code == 0
    assert recorded.calls, "the recorder saw no call at all"
    assert recorded.writes == []
    assert out.splitlines()[1:11] == [
        line.replace("created  ", "unchanged") for line in _created_lines()
    ]
    assert "Nothing to do: every resource is already in place." in out


def test_a_second_run_from_the_command_line_says_unchanged(aws: MotoServer) -> None:
    assert cli(aws, "--region", REGION).returncode == 0
    second = cli(aws, "--region", REGION)
    assert second.returncode == 0
    assert [line.split()[0] for line in second.stdout.splitlines()[1:11]] == ["unchanged"] * 10


def _created_lines() -> list[str]:
    return [
        "created      kms key alias/paved-road-state",
        "created      kms key alias/paved-road-secrets",
        f"created      s3 bucket {BUCKET}",
        "created      iam oidc provider token.actions.githubusercontent.com",
        *(
            line
            for stack in STACKS
            for line in (
                f"created      iam role paved-road-{stack}-pipeline",
                f"created      iam role paved-road-{stack}-deploy",
            )
        ),
    ]


def test_dry_run_on_an_empty_account_writes_nothing(aws: MotoServer) -> None:
    code, out, recorded = run("--dry-run")
    assert code == 0
    assert recorded.calls and recorded.writes == []
    assert out.splitlines()[1:] == [
        *(line.replace("created      ", "would create ") for line in _created_lines()),
        "Dry run: nothing was changed.",
    ]
    assert boto3.client("s3").list_buckets()["Buckets"] == []
    assert boto3.client("iam").list_roles()["Roles"] == []


def test_output_is_the_same_byte_for_byte_for_the_same_account(aws: MotoServer) -> None:
    assert run("--dry-run")[1] == run("--dry-run")[1]
    assert run()[0] == 0
    assert run()[1] == run()[1]


def test_dry_run_names_what_would_be_fixed(aws: MotoServer) -> None:
    assert run()[0] == 0
    kms = boto3.client("kms")
    key_id = key_of("alias/paved-road-secrets")["KeyId"]  # KMS takes no alias for rotation calls
    kms.disable_key_rotation(KeyId=key_id)
    code, out, recorded = run("--dry-run")
    assert code == 0 and recorded.writes == []
    assert "would update kms key alias/paved-road-secrets (rotation)" in out
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    code, out, recorded = run()
    assert code == 0 and recorded.writes == ["EnableKeyRotation"]
    assert "updated      kms key alias/paved-road-secrets (rotation)" in out
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


# --------------------------------------------------------------------------------------------------
# Existing resources: tightened in place, or refused


def test_an_existing_insecure_bucket_is_tightened_and_other_settings_kept(
    aws: MotoServer,
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.delete_public_access_block(Bucket=BUCKET)
    theirs = {
        "Sid": "AuditorsRead",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/auditors"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]})
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "logs",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "logs/"},
                    "Expiration": {"Days": 30},
                }
            ]
        },
    )
    code, out, _ = run()
    assert code == 0
    assert (
        f"updated      s3 bucket {BUCKET} (versioning, ownership controls, public access block, "
        "SSE-KMS encryption, TLS-only policy, lifecycle, tags)"
    ) in out
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"].values())
    rule = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    statements = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["AuditorsRead", "DenyInsecureTransport"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [r["ID"] for r in rules] == ["logs", "expire-noncurrent-state"]
    # ...and then it is settled.
    assert run()[2].writes == []


def test_a_bucket_whose_policy_grants_public_access_is_refused(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.delete_public_access_block(Bucket=BUCKET)
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(public))
    code, out, recorded = run()
    assert code == 1
    assert recorded.writes == []
    error = capsys.readouterr().err
    assert f"s3 bucket {BUCKET}: refused: its bucket policy grants public access" in error
    assert "PublicRead" in error and "Nothing was changed." in error
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == public
    aliases = [a["AliasName"] for a in boto3.client("kms").list_aliases()["Aliases"]]
    assert not [alias for alias in aliases if alias.startswith("alias/paved-road")]


def test_a_bucket_with_a_public_acl_is_refused(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket=BUCKET, ACL="public-read", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    code, _, recorded = run()
    assert code == 1 and recorded.writes == []
    assert "its ACL grants access to all (authenticated) users" in capsys.readouterr().err


def test_a_bucket_of_another_account_is_refused(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bucket names are global: the derived name may be taken by another account (moto keeps one
    namespace across its accounts, and gives another account's credentials through STS)."""
    credentials = boto3.client("sts").assume_role(
        RoleArn="arn:aws:iam::111111111111:role/someone-else", RoleSessionName="other-account"
    )["Credentials"]
    other = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    assert other.client("sts").get_caller_identity()["Account"] == "111111111111"
    other.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    code, _, recorded = run()
    assert code == 1 and recorded.writes == []
    assert (
        f"s3 bucket {BUCKET}: refused: it exists but is owned by another account; choose "
        "another --name. Nothing was changed."
    ) in capsys.readouterr().err


def test_a_bucket_in_another_region_is_refused(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3", region_name="eu-central-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    code, _, recorded = run()
    assert code == 1 and recorded.writes == []
    assert "it is in eu-central-1; run bootstrap with --region eu-central-1" in (
        capsys.readouterr().err
    )


def _github_provider(*audiences: str) -> None:
    boto3.client("iam").create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com",
        ClientIDList=list(audiences),
        ThumbprintList=["6938fd4d98bab03faadb97b34396831e3780aea1"],
    )


def test_an_existing_oidc_provider_is_reused_never_created_twice(aws: MotoServer) -> None:
    _github_provider("sts.amazonaws.com", "https://github.com/acme")
    code, out, recorded = run()
    assert code == 0
    assert "CreateOpenIDConnectProvider" not in recorded.writes
    assert "unchanged    iam oidc provider token.actions.githubusercontent.com" in out
    iam = boto3.client("iam")
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=OIDC_ARN)
    assert sorted(provider["ClientIDList"]) == ["https://github.com/acme", "sts.amazonaws.com"]


def test_an_existing_oidc_provider_without_the_audience_gets_it_added(
    aws: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dry run names the fix; applying it calls AddClientIDToOpenIDConnectProvider, which
    moto 5.2.5 does not implement (its server answers 500): the run stops with one line naming
    the resource, exit 1, and what was done before is said."""
    _github_provider("https://github.com/acme")
    code, out, recorded = run("--dry-run")
    assert code == 0 and recorded.writes == []
    assert (
        "would update iam oidc provider token.actions.githubusercontent.com "
        "(audience sts.amazonaws.com)"
    ) in out
    code, out, recorded = run()
    assert code == 1
    assert "CreateOpenIDConnectProvider" not in recorded.writes
    assert "AddClientIDToOpenIDConnectProvider" in recorded.writes
    assert f"created      s3 bucket {BUCKET}" in out
    assert "failed to update iam oidc provider token.actions.githubusercontent.com" in out
    error = capsys.readouterr().err
    assert error.startswith("bootstrap: iam oidc provider token.actions.githubusercontent.com: ")
    assert len(error.strip().splitlines()) == 1


def test_a_loosened_trust_policy_is_put_back(aws: MotoServer) -> None:
    assert run()[0] == 0
    iam = boto3.client("iam")
    loose = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": OIDC_ARN},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}},
            }
        ],
    }
    iam.update_assume_role_policy(
        RoleName="paved-road-prod-pipeline", PolicyDocument=json.dumps(loose)
    )
    code, out, recorded = run()
    assert code == 0
    assert recorded.writes == ["UpdateAssumeRolePolicy"]
    assert "updated      iam role paved-road-prod-pipeline (trust policy)" in out
    role = iam.get_role(RoleName="paved-road-prod-pipeline")["Role"]
    condition = bootstrap._policy_document(role["AssumeRolePolicyDocument"])["Statement"][0][
        "Condition"
    ]
    assert condition["StringEquals"]["token.actions.githubusercontent.com:sub"] == (
        f"repo:{REPO}:environment:prod"
    )


def test_name_and_repository_options_name_what_is_made(aws: MotoServer) -> None:
    code, out, _ = run("--name", "platform", "--repository", "example/infra")
    assert code == 0
    assert f"created      s3 bucket platform-state-{ACCOUNT_ID}-{REGION}" in out
    assert "created      kms key alias/platform-secrets" in out
    assert "'awskms://alias/platform-secrets?region=eu-west-1'" in out
    role = boto3.client("iam").get_role(RoleName="platform-prod-pipeline")["Role"]
    statement = bootstrap._policy_document(role["AssumeRolePolicyDocument"])["Statement"][0]
    assert (
        statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
        == "repo:example/infra:environment:prod"
    )
    # The deploy role keeps the stack file's name and trusts the renamed pipeline role.
    deploy = boto3.client("iam").get_role(RoleName="paved-road-prod-deploy")["Role"]
    (trust,) = bootstrap._policy_document(deploy["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:role/platform-prod-pipeline"}


# --------------------------------------------------------------------------------------------------
# Bad usage: one line, exit 2, nothing written


@pytest.mark.parametrize(
    "args,message",
    [
        (["--region", "Europe"], "--region: 'Europe' is not an AWS region name"),
        (["--region", "xx-nowhere-9"], "--region: 'xx-nowhere-9' is not a region this boto3 knows"),
        (["--region", REGION, "--name", "Paved_Road"], "--name: 'Paved_Road' cannot name"),
        (
            ["--region", "ap-southeast-2", "--name", "the-platform-of-acme-corp-euro"],
            "--name: 'the-platform-of-acme-corp-euro' makes the state bucket's name 64 characters",
        ),
        (["--region", REGION, "--repository", "acme"], "--repository: 'acme' is not a GitHub"),
        ([], "the following arguments are required: --region"),
    ],
)
def test_bad_usage_exits_2_with_one_clear_line(
    aws: MotoServer, args: list[str], message: str
) -> None:
    result = cli(aws, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert boto3.client("s3").list_buckets()["Buckets"] == []


def test_no_credentials_is_a_clear_error(aws: MotoServer) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = cli(aws, "--region", REGION, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("bootstrap: no AWS credentials found")
    assert "Traceback" not in result.stderr


def test_an_unreachable_endpoint_fails_with_one_line(aws: MotoServer) -> None:
    result = cli(aws, "--region", REGION, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.returncode == 1
    assert result.stderr.startswith("bootstrap: reading the account failed:")
    assert "Traceback" not in result.stderr


def _project_copy(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    return tmp_path


def test_a_stack_naming_another_account_is_refused_before_any_write(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project_copy(tmp_path)
    path = project / "stacks" / "Pulumi.staging.yaml"
    path.write_text(
        path.read_text().replace(
            f"{ACCOUNT_ID}:role/paved-road-staging", "210987654321:role/paved-road-staging"
        )
    )
    code, _, recorded = run(project=project)
    assert code == 2 and recorded.writes == []
    error = capsys.readouterr().err
    assert (
        "stacks/Pulumi.staging.yaml: config.paved-road:cluster.deployRoleArn: names account "
        f"210987654321 (aws), but the credentials are for account {ACCOUNT_ID} (aws)"
    ) in error


def test_a_stack_without_a_deploy_role_is_bad_input(
    aws: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = _project_copy(tmp_path)
    path = project / "stacks" / "Pulumi.dev.yaml"
    path.write_text(
        path.read_text().replace(
            f"deployRoleArn: arn:aws:iam::{ACCOUNT_ID}:role/paved-road-dev-deploy",
            "deployRoleArn: paved-road-dev-deploy",
        )
    )
    code, _, recorded = run(project=project)
    assert code == 2 and recorded.calls == []
    assert (
        "stacks/Pulumi.dev.yaml: config.paved-road:cluster.deployRoleArn: 'paved-road-dev-deploy' "
        "is not an IAM role ARN"
    ) in capsys.readouterr().err
