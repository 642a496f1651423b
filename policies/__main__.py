"""The Paved Road policy pack: `pulumi preview --policy-pack policies` (see README.md, "Policies").

Only builds the pack. Constructing `PolicyPack` starts the analyzer server and never returns, so
every rule lives in `paved_road_policies`, where `pavedroad plan`/`check` and the tests import it.
The pack runs from a checkout: rules read the supported Kubernetes versions from the program's
`components/versions.py`, one directory up.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from paved_road_policies.crossguard import policies  # noqa: E402
from paved_road_policies.registry import RULES  # noqa: E402

PolicyPack(
    name="paved-road",
    policies=policies(RULES),
    # Every rule sets its own level; this applies only to a policy that would not.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Paved Road guardrails: EKS, nodes, KMS, IAM, network, Kubernetes, tags.",
)
