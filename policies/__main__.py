"""The Paved Road policy pack: `pulumi preview --policy-pack policies` (see README.md, "Policies").

Only builds the pack. Constructing `PolicyPack` starts the analyzer server and never returns, so
every rule lives in `paved_road_policies`, where `pavedroad plan`/`check` and the tests import it.
The pack runs from a checkout: rules read the supported Kubernetes versions from the program's
`components/versions.py`, and the domains' stricter levels from `domains/`, one directory up. A
broken domain file stops the pack before it serves (exit 2, naming the file and the field).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from paved_road_policies.config import PolicyConfigError  # noqa: E402
from paved_road_policies.crossguard import policies  # noqa: E402
from paved_road_policies.registry import RULES  # noqa: E402

try:
    built = policies(RULES, ROOT)
except PolicyConfigError as error:
    print(error, file=sys.stderr)
    sys.exit(2)

PolicyPack(
    name="paved-road",
    policies=built,
    # Every rule sets its own level; this applies only to a policy that would not.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Paved Road guardrails: EKS, nodes, KMS, IAM, network, Kubernetes, tags.",
)
