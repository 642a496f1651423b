"""Insight: SLOs with burn-rate alerts, anomaly and capacity alerts, routing to the owning team,
dashboards and traces. Built per tenant from its tenant file, on core's observability stack."""
