"""Paved Road's policy rules, importable without starting a policy server.

`registry.RULES` is every rule; `crossguard.policies()` turns them into pulumi_policy policies
for the pack in `policies/__main__.py`; `runner.evaluate()` runs them offline over a plan.
"""
