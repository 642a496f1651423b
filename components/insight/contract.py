"""What every generated alert, route and dashboard agrees on: labels, severities and links.

Rules (SLO, anomaly, capacity), each tenant's AlertmanagerConfig and the per-tenant dashboards are
built by separate modules; they meet only here, so an alert always carries what its route matches
and links to a dashboard that exists.
"""

from __future__ import annotations

import hashlib
from typing import Optional

# `severity`: a page wakes someone (burn rate that exhausts the budget within days); a ticket is
# looked at in working hours (slow burn, anomalies, capacity running out).
SEVERITY_PAGE = "page"
SEVERITY_TICKET = "ticket"
SEVERITIES = (SEVERITY_PAGE, SEVERITY_TICKET)

# Labels every tenant alert carries (`slo` only on SLO alerts); `kind` tells the families apart.
TENANT_LABEL = "tenant"
NAMESPACE_LABEL = "namespace"
APP_LABEL = "app"
SLO_LABEL = "slo"
KIND_LABEL = "kind"
KIND_SLO = "slo"
KIND_ANOMALY = "anomaly"
KIND_CAPACITY = "capacity"

# Annotations every alert carries.
ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard")

# Grafana is reached through `kubectl port-forward` (it has no Ingress): links are relative to
# this base unless the stack names Grafana's URL.
DEFAULT_GRAFANA_URL = "http://localhost:3000"
_GRAFANA_UID_MAX = 40


def dashboard_uid(tenant: str) -> str:
    """The tenant dashboard's Grafana uid (at most 40 characters, stable, unique per tenant)."""
    uid = f"paved-road-{tenant}"
    if len(uid) <= _GRAFANA_UID_MAX:
        return uid
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:8]
    return f"{uid[: _GRAFANA_UID_MAX - 9]}-{digest}"


def dashboard_url(grafana_url: str, tenant: str, app: Optional[str] = None) -> str:
    """The tenant's dashboard, narrowed to one app when given (the dashboard's `app` variable)."""
    url = f"{grafana_url.rstrip('/')}/d/{dashboard_uid(tenant)}"
    return f"{url}?var-app={app}" if app else url


def runbook_url(base_url: str, alert: str) -> str:
    """The README "Observe" section's entry for an alert, as an anchor of the runbook base."""
    return f"{base_url}#{alert.lower()}"


# Recording rules of the SLO rules (Sloth's names, so its dashboards and habits carry over), each
# series labelled tenant, namespace, app and slo (`availability` or `latency`); dashboards read them.
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def sli_error_ratio_record(window: str) -> str:
    """The share of bad events over `window` (one of SLO_WINDOWS or the SLO's own window)."""
    return f"slo:sli_error:ratio_rate{window}"


SLO_OBJECTIVE_RECORD = "slo:objective:ratio"
SLO_ERROR_BUDGET_RECORD = "slo:error_budget:ratio"
SLO_CURRENT_BURN_RATE_RECORD = "slo:current_burn_rate:ratio"
SLO_BUDGET_REMAINING_RECORD = "slo:period_error_budget_remaining:ratio"
