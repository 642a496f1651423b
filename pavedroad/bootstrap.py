"""`pavedroad bootstrap`: what an AWS account needs before the first `pulumi up`.

Pulumi's self-managed backend keeps state in an S3 bucket and encrypts stack secrets with a KMS
key; GitHub Actions reaches the account through the IAM OIDC provider, a pipeline role per stack,
and the stack's deploy role behind it. None of these can be created by the program itself (it needs them to run), so this command
creates them with boto3, in three phases:

1. read: every resource's current state, with read-only calls (Get/List/Describe/Head) only;
2. plan: for each resource, what differs from the wanted settings — or a refusal when the
   existing resource cannot be made safe without a human deciding (see `_bucket_refusal`);
3. apply: the writes, only for what differs, only when nothing was refused and not `--dry-run`.

So a second run finds everything in place, writes nothing and says so, and a dry run or a refused
run never writes. Output: one line per resource, then the `pulumi` commands to run next and the
GitHub secrets and environments the workflows read.

Decisions (the README repeats them):

- Existing state bucket: settings that only tighten it (versioning, encryption, public access
  block, TLS-only policy statement, lifecycle rule, ownership controls, tags) are fixed in place;
  a bucket owned by another account, living in another region, or whose policy or ACL grants
  public access is refused: someone chose that, and state may already have been exposed, so a
  human looks before anything is changed. Other statements of an existing bucket policy and other
  lifecycle rules and tags are kept; ours are added or replaced by their Sid, rule ID and key.
- Two roles per stack, because EKS admits a principal once: the identity that creates the
  cluster gets the creator's access entry from EKS itself, and the platform gives the stack's
  `cluster.deployRoleArn` its own cluster-admin access entry, so the two must differ (the README's
  "Run it for real"; config.py refuses `deployRoleArn` in `admins` for the same reason).
  - The *pipeline role* `<name>-<stack>-pipeline` is what GitHub Actions assumes and what runs
    Pulumi. It trusts the GitHub OIDC provider with audience `sts.amazonaws.com` and the subject of
    the stack's GitHub environment (`repo:OWNER/NAME:environment:STACK`); stacks with
    `paved-road:production: false` also trust the repository's pull requests
    (`repo:OWNER/NAME:pull_request`) for `pulumi preview`. A production stack's pipeline role is
    reachable only from its environment, where GitHub's required reviewers gate it. `pulumi up`
    creates VPCs, EKS clusters, IAM roles and KMS keys, so it carries the AWS managed policy
    AdministratorAccess (anything narrower breaks on the next component added; the blast radius
    is bounded by the trust policy: one repository, one GitHub environment). An inline policy names
    the state bucket and both keys, so state access survives if the managed policy is narrowed.
  - The *deploy role* is the one the stack file names in `cluster.deployRoleArn` (so the stack
    file stays the one place that names it; a stack whose ARN names another account or partition
    than the credentials' is refused, exit 2, before any call that writes). It trusts only the
    stack's pipeline role (`sts:AssumeRole`) and has no permissions: the Kubernetes provider's
    token is a signed `sts:GetCallerIdentity`, and the cluster grants it admin.
- The OIDC provider is one per account: an existing one is reused (its audience list gets
  `sts.amazonaws.com` added if missing), never created twice. No thumbprint is sent: IAM verifies
  GitHub's certificate against its trusted root CAs and `ThumbprintList` is optional.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
ADMIN_POLICY = "AdministratorAccess"
NONCURRENT_DAYS = 90
TLS_SID = "DenyInsecureTransport"
LIFECYCLE_ID = "expire-noncurrent-state"
STATE_POLICY_NAME = "pulumi-state"
READ_PREFIXES = ("Get", "List", "Describe", "Head")

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,30}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_ROLE_ARN = re.compile(
    r"arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role(/(?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})"
)


class BadInput(Exception):
    """Bad usage, input files or credentials: exit 2, nothing written to AWS."""


class Refused(Exception):
    """An existing resource this command will not change on its own: exit 1, nothing written."""


# --------------------------------------------------------------------------------------------------
# What to build: from the arguments, pyproject.toml and the stack files


@dataclass(frozen=True)
class Environment:
    stack: str
    # The stack's deploy role (`cluster.deployRoleArn`): what the cluster admits as admin.
    role_name: str
    role_path: str
    production: bool

    def pipeline_role_name(self, name: str) -> str:
        """The role GitHub Actions assumes to run Pulumi for this stack (`name`: the bucket's and
        aliases' prefix, default the project name)."""
        return f"{name}-{self.stack}-pipeline"


@dataclass(frozen=True)
class Target:
    """Every name bootstrap works with, fixed before the first AWS call."""

    name: str
    region: str
    repository: str
    environments: tuple[Environment, ...]
    stack_accounts: tuple[tuple[str, str, str, str], ...]  # (file, field, partition, account)

    @property
    def state_alias(self) -> str:
        return f"alias/{self.name}-state"

    @property
    def secrets_alias(self) -> str:
        return f"alias/{self.name}-secrets"

    def bucket(self, account: str) -> str:
        return f"{self.name}-state-{account}-{self.region}"


def repository_of(project_dir: Path, given: Optional[str]) -> str:
    """`--repository`, else `[tool.pavedroad.catalog] repository` (a GitHub URL) of pyproject.toml:
    the trust policies name it, so a wrong value would lock CI out (or let another repo in)."""
    source = "--repository"
    if given is None:
        source = "pyproject.toml: tool.pavedroad.catalog.repository"
        path = project_dir / "pyproject.toml"
        try:
            table = tomllib.loads(path.read_text()) if path.is_file() else {}
        except tomllib.TOMLDecodeError as error:
            raise BadInput(f"pyproject.toml: {error}") from None
        url = table.get("tool", {}).get("pavedroad", {}).get("catalog", {}).get("repository")
        if not isinstance(url, str):
            raise BadInput(
                "--repository OWNER/NAME is required (or set [tool.pavedroad.catalog] repository "
                "in pyproject.toml)"
            )
        prefix = "https://github.com/"
        if not url.startswith(prefix):
            raise BadInput(f"{source}: {url!r} is not a https://github.com/OWNER/NAME URL")
        given = url[len(prefix) :].rstrip("/").removesuffix(".git")
    if not _REPOSITORY.fullmatch(given):
        raise BadInput(f"{source}: {given!r} is not a GitHub repository OWNER/NAME")
    return given


def environments_of(project_dir: Path) -> tuple[list[Environment], list[tuple[str, str, str, str]]]:
    """Each stack's deploy role, from the ARN the stack file gives the cluster."""
    from pavedroad.engine import StackFileError, load_stack_config

    stacks = sorted(
        p.name[len("Pulumi.") : -len(".yaml")]
        for p in (project_dir / "stacks").glob("Pulumi.*.yaml")
    )
    if not stacks:
        raise BadInput(f"{project_dir / 'stacks'}: no stack files (Pulumi.<stack>.yaml)")
    environments, accounts, problems = [], [], []
    for stack in stacks:
        file = f"stacks/Pulumi.{stack}.yaml"
        try:
            config, _ = load_stack_config(stack, project_dir)
        except StackFileError as error:
            problems.append(str(error))
            continue
        try:
            cluster = json.loads(config.get("paved-road:cluster", "{}"))
        except json.JSONDecodeError:
            cluster = None
        arn = cluster.get("deployRoleArn") if isinstance(cluster, dict) else None
        match = _ROLE_ARN.fullmatch(arn) if isinstance(arn, str) else None
        if match is None:
            problems.append(
                f"{file}: config.paved-road:cluster.deployRoleArn: {arn!r} is not an IAM role ARN "
                "(arn:aws:iam::ACCOUNT:role/NAME); bootstrap creates the role it names"
            )
            continue
        partition, account, path, role = match.groups()
        production = config.get("paved-road:production", "false") == "true"
        environments.append(Environment(stack, role, path, production))
        accounts.append((file, "config.paved-road:cluster.deployRoleArn", partition, account))
    if problems:
        raise BadInput("\n".join(problems))
    return environments, accounts


def target_of(
    project_dir: Path, region: str, name: Optional[str], repository: Optional[str]
) -> Target:
    """Validates every input before AWS is asked anything."""
    from pavedroad.engine import StackFileError, project_name

    if not _REGION.fullmatch(region):
        raise BadInput(f"--region: {region!r} is not an AWS region name (e.g. eu-west-1)")
    if name is None:
        try:
            name = project_name(project_dir)
        except StackFileError as error:
            raise BadInput(str(error)) from None
        source = "Pulumi.yaml: name"
    else:
        source = "--name"
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"{source}: {name!r} cannot name the state bucket and key aliases: lowercase letters, "
            "digits and single '-' inside, 2 to 31 characters"
        )
    bucket = len(f"{name}-state-{'0' * 12}-{region}")
    if bucket > 63:
        raise BadInput(
            f"{source}: {name!r} makes the state bucket's name {bucket} characters long "
            "(S3's limit is 63): choose a shorter --name"
        )
    environments, accounts = environments_of(project_dir)
    return Target(
        name, region, repository_of(project_dir, repository), tuple(environments), tuple(accounts)
    )


def known_region(session: Any, region: str) -> bool:
    """Whether botocore's endpoint data knows the region in any partition (offline lookup)."""
    return any(
        region in session.get_available_regions("sts", partition_name=partition)
        for partition in session.get_available_partitions()
    )


# --------------------------------------------------------------------------------------------------
# The plan: one Change per resource


@dataclass
class Change:
    """One resource: what is missing or different (empty: unchanged), and the writes that fix it."""

    kind: str
    name: str
    exists: bool
    missing: list[str] = field(default_factory=list)
    writes: list[Callable[["Context"], None]] = field(default_factory=list)

    def need(self, what: str, write: Callable[["Context"], None]) -> None:
        self.missing.append(what)
        self.writes.append(write)

    def line(self, dry_run: bool) -> str:
        if not self.missing:
            verb = "unchanged"
        elif not self.exists:
            verb = "would create" if dry_run else "created"
        else:
            verb = "would update" if dry_run else "updated"
        detail = f" ({', '.join(self.missing)})" if self.missing and self.exists else ""
        return f"{verb:<12} {self.kind} {self.name}{detail}"


@dataclass
class Context:
    """The account's facts and the clients; key ARNs are filled in as keys are found or made."""

    session: Any
    account: str
    partition: str
    region: str
    target: Target
    key_arns: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=self.region)

    @property
    def bucket(self) -> str:
        return self.target.bucket(self.account)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    @property
    def oidc_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:oidc-provider/{GITHUB_OIDC_HOST}"

    def tags(self, **extra: str) -> dict[str, str]:
        return {
            "paved-road:project": self.target.name,
            "paved-road:managed-by": "bootstrap",
            **extra,
        }


def _error_code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


# --------------------------------------------------------------------------------------------------
# KMS keys


def plan_key(ctx: Context, alias: str, purpose: str) -> Change:
    """A customer-managed symmetric key with yearly rotation, found by its alias."""
    from botocore.exceptions import ClientError

    kms = ctx.client("kms")
    change = Change("kms key", alias, exists=True)
    try:
        key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    except ClientError as error:
        if _error_code(error) != "NotFoundException":
            raise
        change.exists = False
        change.need("key", lambda c: _create_key(c, alias, purpose))
        change.need(
            "rotation", lambda c: c.client("kms").enable_key_rotation(KeyId=c.key_arns[alias])
        )
        change.need(
            "alias",
            lambda c: c.client("kms").create_alias(AliasName=alias, TargetKeyId=c.key_arns[alias]),
        )
        return change
    if key.get("KeyManager") != "CUSTOMER" or key.get("KeyState") != "Enabled":
        raise Refused(
            f"kms key {alias}: points at a key that is {key.get('KeyState')} and "
            f"{key.get('KeyManager')}-managed; it must be an enabled customer-managed key "
            "(re-enable it, or delete the alias)"
        )
    if key.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        raise Refused(f"kms key {alias}: is {key.get('KeySpec')}; Pulumi needs a symmetric key")
    ctx.key_arns[alias] = key["Arn"]
    if not kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]:
        change.need("rotation", lambda c: c.client("kms").enable_key_rotation(KeyId=key["KeyId"]))
    return change


def _create_key(ctx: Context, alias: str, purpose: str) -> None:
    tags = [{"TagKey": k, "TagValue": v} for k, v in sorted(ctx.tags().items())]
    key = ctx.client("kms").create_key(
        Description=f"{ctx.target.name}: {purpose}", KeyUsage="ENCRYPT_DECRYPT", Tags=tags
    )
    ctx.key_arns[alias] = key["KeyMetadata"]["Arn"]


# --------------------------------------------------------------------------------------------------
# The state bucket


def tls_statement(ctx: Context) -> dict[str, Any]:
    return {
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [ctx.bucket_arn, f"{ctx.bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def lifecycle_rule() -> dict[str, Any]:
    return {
        "ID": LIFECYCLE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _read(call: Callable[[], Any], *absent: str) -> Any:
    """A read whose 'not configured' error code means None (S3 answers unset settings with 404s)."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as error:
        if _error_code(error) in absent:
            return None
        raise


def _grants_public(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    anyone = principal == "*" or (
        isinstance(principal, dict)
        and "*" in (principal.get("AWS"), *_listed(principal.get("AWS")))
    )
    return statement.get("Effect") == "Allow" and anyone and not statement.get("Condition")


def _contains(have: Any, want: Any) -> bool:
    """Whether `have` says everything `want` says: S3 may answer with fields it filled in
    (defaults of newer API versions), which must not read as a difference."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(have.get(k), v) for k, v in want.items())
    return bool(have == want)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _bucket_refusal(ctx: Context, s3: Any) -> Optional[str]:
    """Why an existing bucket is not ours to fix, or None. Read-only."""
    location = s3.get_bucket_location(Bucket=ctx.bucket)["LocationConstraint"] or "us-east-1"
    if location == "EU":
        location = "eu-west-1"
    if location != ctx.region:
        return f"it is in {location}; run bootstrap with --region {location}"
    policy = _read(lambda: s3.get_bucket_policy(Bucket=ctx.bucket), "NoSuchBucketPolicy")
    if policy is not None:
        statements = _listed(json.loads(policy["Policy"]).get("Statement", []))
        public = [s.get("Sid", "(no Sid)") for s in statements if _grants_public(s)]
        if public:
            return (
                f"its bucket policy grants public access (statement {', '.join(public)}); state "
                "may have been exposed: review and remove that statement, then run bootstrap again"
            )
    acl = s3.get_bucket_acl(Bucket=ctx.bucket)
    public_groups = (
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    )
    if any(g.get("Grantee", {}).get("URI") in public_groups for g in acl.get("Grants", [])):
        return (
            "its ACL grants access to all (authenticated) users; state may have been exposed: "
            "review and remove that grant, then run bootstrap again"
        )
    return None


def _owned(ctx: Context, s3: Any) -> bool:
    """Whether the account lists the bucket as its own. HeadBucket's ExpectedBucketOwner would
    answer 403 for a foreign bucket, but not every S3-compatible endpoint checks it; ListBuckets
    only ever lists the caller's own buckets."""
    pages = s3.get_paginator("list_buckets").paginate(Prefix=ctx.bucket)
    return any(b["Name"] == ctx.bucket for page in pages for b in page.get("Buckets", []))


def plan_bucket(ctx: Context) -> Change:
    """The state bucket: created, or an existing one brought to the settings, or refused."""
    from botocore.exceptions import ClientError

    s3 = ctx.client("s3")
    change = Change("s3 bucket", ctx.bucket, exists=True)
    try:
        s3.head_bucket(Bucket=ctx.bucket, ExpectedBucketOwner=ctx.account)
    except ClientError as error:
        code = _error_code(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            change.exists = False
        elif code in ("403", "AccessDenied", "Forbidden"):
            raise Refused(
                f"s3 bucket {ctx.bucket}: exists but is owned by another account or unreadable "
                "with these credentials; choose another --name"
            ) from None
        else:
            raise
    if change.exists and not _owned(ctx, s3):
        raise Refused(
            f"s3 bucket {ctx.bucket}: refused: it exists but is owned by another account; "
            "choose another --name"
        )
    if not change.exists:
        change.need("bucket", _create_bucket)
        # CreateBucket sets the ownership; every other setting is written after it.
        current: dict[str, Any] = {"ownership": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    else:
        reason = _bucket_refusal(ctx, s3)
        if reason:
            raise Refused(f"s3 bucket {ctx.bucket}: refused: {reason}")
        current = _bucket_settings(ctx, s3)
    _plan_bucket_settings(ctx, change, current)
    return change


def _bucket_settings(ctx: Context, s3: Any) -> dict[str, Any]:
    b = ctx.bucket
    return {
        "versioning": s3.get_bucket_versioning(Bucket=b).get("Status"),
        "ownership": _read(
            lambda: s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"],
            "OwnershipControlsNotFoundError",
        ),
        "public": _read(
            lambda: s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"],
            "NoSuchPublicAccessBlockConfiguration",
        ),
        "encryption": _read(
            lambda: s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"][
                "Rules"
            ],
            "ServerSideEncryptionConfigurationNotFoundError",
        ),
        "policy": _read(
            lambda: json.loads(s3.get_bucket_policy(Bucket=b)["Policy"]), "NoSuchBucketPolicy"
        ),
        "lifecycle": _read(
            lambda: s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"],
            "NoSuchLifecycleConfiguration",
        ),
        "tags": _read(
            lambda: {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=b)["TagSet"]},
            "NoSuchTagSet",
        ),
    }


def _encryption_rule(key_arn: str) -> dict[str, Any]:
    return {
        "ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        },
        "BucketKeyEnabled": True,
    }


def _plan_bucket_settings(ctx: Context, change: Change, current: dict[str, Any]) -> None:
    """Each setting compared with what is there; only differing ones are written."""
    bucket, alias = ctx.bucket, ctx.target.state_alias
    if current.get("versioning") != "Enabled":
        change.need(
            "versioning",
            lambda c: c.client("s3").put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
        )
    enforced = [{"ObjectOwnership": "BucketOwnerEnforced"}]
    if current.get("ownership") != enforced:
        change.need(
            "ownership controls",
            lambda c: c.client("s3").put_bucket_ownership_controls(
                Bucket=bucket, OwnershipControls={"Rules": enforced}
            ),
        )
    if current.get("public") != PUBLIC_ACCESS_BLOCK:
        change.need(
            "public access block",
            lambda c: c.client("s3").put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
            ),
        )
    known_key = ctx.key_arns.get(alias)
    if known_key is None or current.get("encryption") != [_encryption_rule(known_key)]:
        change.need(
            "SSE-KMS encryption",
            lambda c: c.client("s3").put_bucket_encryption(
                Bucket=bucket,
                ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(c.key_arns[alias])]},
            ),
        )
    policy = current.get("policy") or {"Version": "2012-10-17", "Statement": []}
    others = [s for s in _listed(policy.get("Statement", [])) if s.get("Sid") != TLS_SID]
    wanted_policy = {**policy, "Statement": [*others, tls_statement(ctx)]}
    if current.get("policy") != wanted_policy:
        text = json.dumps(wanted_policy, sort_keys=True)
        change.need(
            "TLS-only policy",
            lambda c: c.client("s3").put_bucket_policy(Bucket=bucket, Policy=text),
        )
    rules = current.get("lifecycle") or []
    ours = [r for r in rules if r.get("ID") == LIFECYCLE_ID]
    wanted_rules = [*(r for r in rules if r.get("ID") != LIFECYCLE_ID), lifecycle_rule()]
    if len(ours) != 1 or not _contains(ours[0], lifecycle_rule()):
        change.need(
            "lifecycle",
            lambda c: c.client("s3").put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": wanted_rules}
            ),
        )
    tags = current.get("tags") or {}
    wanted_tags = {**tags, **ctx.tags()}
    if tags != wanted_tags:
        tag_set = [{"Key": k, "Value": v} for k, v in sorted(wanted_tags.items())]
        change.need(
            "tags",
            lambda c: c.client("s3").put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_set}),
        )


def _create_bucket(ctx: Context) -> None:
    s3 = ctx.client("s3")
    extra = {}
    if ctx.region != "us-east-1":  # us-east-1 refuses a LocationConstraint naming itself
        extra["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    s3.create_bucket(Bucket=ctx.bucket, ObjectOwnership="BucketOwnerEnforced", **extra)
    s3.get_waiter("bucket_exists").wait(Bucket=ctx.bucket, ExpectedBucketOwner=ctx.account)


# --------------------------------------------------------------------------------------------------
# GitHub's OIDC provider and the deploy roles


def plan_oidc(ctx: Context) -> Change:
    """One provider per account and URL: reused when there, its audience added if missing."""
    iam = ctx.client("iam")
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    change = Change("iam oidc provider", GITHUB_OIDC_HOST, exists=ctx.oidc_arn in arns)
    if not change.exists:
        tags = [{"Key": k, "Value": v} for k, v in sorted(ctx.tags().items())]
        change.need(
            "provider",
            lambda c: c.client("iam").create_open_id_connect_provider(
                Url=f"https://{GITHUB_OIDC_HOST}", ClientIDList=[GITHUB_AUDIENCE], Tags=tags
            ),
        )
        return change
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=ctx.oidc_arn)
    if GITHUB_AUDIENCE not in provider.get("ClientIDList", []):
        change.need(
            f"audience {GITHUB_AUDIENCE}",
            lambda c: c.client("iam").add_client_id_to_open_id_connect_provider(
                OpenIDConnectProviderArn=c.oidc_arn, ClientID=GITHUB_AUDIENCE
            ),
        )
    return change


def subjects(ctx: Context, env: Environment) -> list[str]:
    """Who may assume a stack's role: its GitHub environment; pull requests unless production."""
    repo = f"repo:{ctx.target.repository}"
    wanted = [f"{repo}:environment:{env.stack}"]
    if not env.production:
        wanted.append(f"{repo}:pull_request")
    return wanted


def trust_policy(ctx: Context, env: Environment) -> dict[str, Any]:
    subs = subjects(ctx, env)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActions",
                "Effect": "Allow",
                "Principal": {"Federated": ctx.oidc_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subs[0] if len(subs) == 1 else subs,
                    }
                },
            }
        ],
    }


def state_policy(ctx: Context) -> dict[str, Any]:
    """The state bucket and both keys, named explicitly (keys by alias, so the policy is known
    before the keys exist and stays right if a key is ever replaced behind its alias)."""
    keys = f"arn:{ctx.partition}:kms:{ctx.region}:{ctx.account}:key/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StateBucket",
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:GetBucketVersioning", "s3:ListBucket"],
                "Resource": ctx.bucket_arn,
            },
            {
                "Sid": "StateObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                "Resource": f"{ctx.bucket_arn}/*",
            },
            {
                "Sid": "StateAndSecretsKeys",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": keys,
                "Condition": {
                    "ForAnyValue:StringEquals": {
                        "kms:ResourceAliases": [ctx.target.secrets_alias, ctx.target.state_alias]
                    }
                },
            },
        ],
    }


def _policy_document(value: Any) -> Any:
    """IAM returns policy documents URL-encoded JSON; botocore decodes most but not all."""
    from urllib.parse import unquote

    return json.loads(unquote(value)) if isinstance(value, str) else value


def pipeline_role_arn(ctx: Context, env: Environment) -> str:
    return f"arn:{ctx.partition}:iam::{ctx.account}:role/{env.pipeline_role_name(ctx.target.name)}"


def deploy_trust_policy(ctx: Context, env: Environment) -> dict[str, Any]:
    """The deploy role is assumed by the stack's pipeline role only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "StackPipeline",
                "Effect": "Allow",
                "Principal": {"AWS": pipeline_role_arn(ctx, env)},
                "Action": "sts:AssumeRole",
            }
        ],
    }


@dataclass(frozen=True)
class RoleSpec:
    """One role as bootstrap wants it; `admin`/`inline`: what a pipeline role also carries."""

    name: str
    path: str
    trust: dict[str, Any]
    description: str
    tags: dict[str, str]
    admin: bool
    inline: Optional[dict[str, Any]]


def plan_pipeline_role(ctx: Context, env: Environment) -> Change:
    return plan_role(
        ctx,
        RoleSpec(
            name=env.pipeline_role_name(ctx.target.name),
            path="/",
            trust=trust_policy(ctx, env),
            description=f"Runs Pulumi for the {env.stack} stack of {ctx.target.name} from "
            "GitHub Actions",
            tags=ctx.tags(**{"paved-road:environment": env.stack}),
            admin=True,
            inline=state_policy(ctx),
        ),
    )


def plan_deploy_role(ctx: Context, env: Environment) -> Change:
    return plan_role(
        ctx,
        RoleSpec(
            name=env.role_name,
            path=env.role_path,
            trust=deploy_trust_policy(ctx, env),
            description=f"Cluster admin of the {env.stack} stack of {ctx.target.name}, assumed "
            "by its pipeline role",
            tags=ctx.tags(**{"paved-road:environment": env.stack}),
            admin=False,
            inline=None,
        ),
    )


def plan_role(ctx: Context, spec: RoleSpec) -> Change:
    from botocore.exceptions import ClientError

    iam = ctx.client("iam")
    name = spec.name
    change = Change("iam role", f"{spec.path[1:]}{name}", exists=True)
    admin = f"arn:{ctx.partition}:iam::aws:policy/{ADMIN_POLICY}"
    tag_list = [{"Key": k, "Value": v} for k, v in sorted(spec.tags.items())]
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as error:
        if _error_code(error) != "NoSuchEntity":
            raise
        change.exists = False
        change.need(
            "role",
            lambda c: _create_role(c, spec, tag_list),
        )
        role = None
    if role is not None:
        if role.get("Path", "/") != spec.path:
            raise Refused(
                f"iam role {name}: exists with path {role.get('Path')}, bootstrap wants {spec.path}"
            )
        if _policy_document(role.get("AssumeRolePolicyDocument")) != spec.trust:
            change.need(
                "trust policy",
                lambda c: c.client("iam").update_assume_role_policy(
                    RoleName=name, PolicyDocument=json.dumps(spec.trust)
                ),
            )
        have_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
        if any(have_tags.get(k) != v for k, v in spec.tags.items()):
            change.need("tags", lambda c: c.client("iam").tag_role(RoleName=name, Tags=tag_list))
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        has_admin = admin in [p["PolicyArn"] for p in attached]
        existing = (
            _read(
                lambda: iam.get_role_policy(RoleName=name, PolicyName=STATE_POLICY_NAME),
                "NoSuchEntity",
            )
            if spec.inline is not None
            else None
        )
        has_inline = existing is not None and (
            _policy_document(existing["PolicyDocument"]) == spec.inline
        )
    else:
        has_admin = has_inline = False
    if spec.admin and not has_admin:
        change.need(
            ADMIN_POLICY,
            lambda c: c.client("iam").attach_role_policy(RoleName=name, PolicyArn=admin),
        )
    if spec.inline is not None and not has_inline:
        inline = spec.inline
        change.need(
            "state policy",
            lambda c: c.client("iam").put_role_policy(
                RoleName=name, PolicyName=STATE_POLICY_NAME, PolicyDocument=json.dumps(inline)
            ),
        )
    return change


def _create_role(ctx: Context, spec: RoleSpec, tags: list[dict[str, str]]) -> None:
    """IAM checks a trust policy's principals when the role is made, and a role created a moment
    ago (the pipeline role a deploy role trusts) can take seconds to be known: retried a while."""
    import time

    from botocore.exceptions import ClientError

    for attempt in range(10):
        try:
            ctx.client("iam").create_role(
                RoleName=spec.name,
                Path=spec.path,
                AssumeRolePolicyDocument=json.dumps(spec.trust),
                Description=spec.description,
                MaxSessionDuration=3600,
                Tags=tags,
            )
            return
        except ClientError as error:
            if _error_code(error) != "MalformedPolicyDocument" or attempt == 9:
                raise
            time.sleep(3)


# --------------------------------------------------------------------------------------------------
# The command


def identity(session: Any, region: str) -> tuple[str, str]:
    """(account, partition) of the credentials: the names and ARNs are derived from them."""
    arn = session.client("sts", region_name=region).get_caller_identity()["Arn"]
    return arn.split(":")[4], arn.split(":")[1]


def check_accounts(target: Target, account: str, partition: str) -> None:
    """The stack files' deploy roles must live where these credentials would create them."""
    wrong = [
        f"{file}: {fld}: names account {acct} ({part}), but the credentials are for account "
        f"{account} ({partition}): fix the ARN or use the other account's credentials"
        for file, fld, part, acct in target.stack_accounts
        if (acct, part) != (account, partition)
    ]
    if wrong:
        raise BadInput("\n".join(wrong))


def plan_all(ctx: Context) -> list[Change]:
    target = ctx.target
    changes = [
        plan_key(ctx, target.state_alias, "encrypts the Pulumi state bucket"),
        plan_key(ctx, target.secrets_alias, "Pulumi secrets provider"),
    ]
    changes.append(plan_bucket(ctx))
    changes.append(plan_oidc(ctx))
    for env in target.environments:
        # The pipeline role first: the deploy role's trust policy names it.
        changes += [plan_pipeline_role(ctx, env), plan_deploy_role(ctx, env)]
    return changes


def backend_url(ctx: Context) -> str:
    return f"s3://{ctx.bucket}?region={ctx.region}"


def secrets_provider(ctx: Context) -> str:
    return f"awskms://{ctx.target.secrets_alias}?region={ctx.region}"


def next_steps(ctx: Context) -> list[str]:
    """The Pulumi commands that use what was made (quoted: `?` and `&` are shell characters)."""
    lines = [f"pulumi login '{backend_url(ctx)}'"]
    for env in ctx.target.environments:
        lines.append(f"pulumi stack init {env.stack} --secrets-provider '{secrets_provider(ctx)}'")
    return lines


def github_steps(ctx: Context) -> list[str]:
    """What the repository's workflows read (secrets, and one GitHub environment per stack: the
    roles trust the environments' OIDC subjects)."""
    environments = ", ".join(
        f"{env.stack} (required reviewers)" if env.production else env.stack
        for env in ctx.target.environments
    )
    return [
        f"gh secret set AWS_ACCOUNT_ID --body {ctx.account}",
        f"gh secret set PULUMI_BACKEND_URL --body '{backend_url(ctx)}'",
        f"gh secret set PULUMI_SECRETS_PROVIDER --body '{secrets_provider(ctx)}'",
        f"and the GitHub environments {environments}",
    ]


def run(
    project_dir: Path,
    region: str,
    name: Optional[str] = None,
    repository: Optional[str] = None,
    dry_run: bool = False,
    session: Any = None,
    out: Any = None,
) -> int:
    """The whole command; `session` is the boto3 session to use (default: from the environment)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from botocore.parsers import ResponseParserError

    out = out or sys.stdout
    try:
        target = target_of(project_dir, region, name, repository)
        session = session or boto3.Session()
        if not known_region(session, region):
            raise BadInput(f"--region: {region!r} is not a region this boto3 knows")
        account, partition = identity(session, region)
        check_accounts(target, account, partition)
        ctx = Context(session, account, partition, region, target)
        changes = plan_all(ctx)
    except BadInput as error:
        print(f"bootstrap: {error}", file=sys.stderr)
        print("Nothing was changed.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NoCredentialsError:
        print(
            "bootstrap: no AWS credentials found (set AWS_PROFILE, or run `aws sso login`, "
            "or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY). Nothing was changed.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except Refused as error:
        print(f"bootstrap: {error}. Nothing was changed.", file=sys.stderr)
        return EXIT_FAILED
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        print(
            f"bootstrap: reading the account failed: {_one_line(error)}. Nothing was changed.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(f"account {account}, region {region}, repository {target.repository}", file=out)
    if dry_run:
        for change in changes:
            print(change.line(dry_run=True), file=out)
        print("Dry run: nothing was changed.", file=out)
        return EXIT_OK
    for change in changes:
        try:
            for write in change.writes:
                write(ctx)
        except (ClientError, BotoCoreError, ResponseParserError) as error:
            print(change.line(dry_run=True).replace("would ", "failed to ", 1), file=out)
            print(
                f"bootstrap: {change.kind} {change.name}: {_one_line(error)}; the lines above "
                "are done, run bootstrap again once this is fixed",
                file=sys.stderr,
            )
            return EXIT_FAILED
        print(change.line(dry_run=False), file=out)
    if not any(change.missing for change in changes):
        print("Nothing to do: every resource is already in place.", file=out)
    print("\nNext:", file=out)
    for line in next_steps(ctx):
        print(f"  {line}", file=out)
    print(f"\nGitHub Actions for {target.repository}:", file=out)
    for line in github_steps(ctx):
        print(f"  {line}", file=out)
    return EXIT_OK


def _one_line(error: Exception) -> str:
    """The error as one line; an endpoint answering with an HTML page (a proxy, an emulator
    without the operation) is named as such instead of printing the page."""
    from botocore.parsers import ResponseParserError

    if isinstance(error, ResponseParserError):
        return "the endpoint's answer is not an AWS API response (an HTTP error page)"
    return " ".join(str(error).split())
