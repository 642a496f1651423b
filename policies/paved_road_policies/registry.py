"""Every rule of the pack, by concern. A new rule module is added here and nowhere else."""

from __future__ import annotations

from . import cost, datastore, dns, domains, eks, iam, kms, kubernetes, network, nodes, sqs, tags
from .core import Rule, rules_of

MODULES = (eks, nodes, kms, iam, network, datastore, sqs, dns, kubernetes, tags, domains, cost)
RULES: tuple[Rule, ...] = tuple(rule for module in MODULES for rule in rules_of(module))
BY_NAME = {rule.name: rule for rule in RULES}

if len(BY_NAME) != len(RULES):
    raise RuntimeError("two rules share a name; CrossGuard needs names unique within a pack")
