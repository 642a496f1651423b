"""The AWS Load Balancer Controller's Ingress annotations the platform sets, in one place.

Names and values follow the controller's documentation for the pinned v2.13
(docs/guide/ingress/annotations.md in kubernetes-sigs/aws-load-balancer-controller). Every ALB the
platform asks for serves HTTPS only: HTTP on port 80 exists just to redirect to 443.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Mapping

ALB = "alb.ingress.kubernetes.io"
GROUP_ANNOTATION = f"{ALB}/group.name"
Scheme = Literal["internal", "internet-facing"]
HTTPS_PORT = 443
# TLS 1.3 and 1.2 with forward-secret ciphers only: AWS's recommended policy. Without the
# annotation the controller applies ELBSecurityPolicy-2016-08, which still accepts TLS 1.0.
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def https_annotations(scheme: Scheme, tags: Mapping[str, str]) -> dict[str, Any]:
    """An ALB reached at `scheme`, sending traffic straight to pod IPs, listening on HTTPS 443
    with a modern policy and on HTTP 80 only to redirect, tagged like the platform's own AWS
    resources. On an IngressGroup these are the same on every member, as the controller
    requires of its "exclusive" annotations (scheme, ssl-redirect, ssl-policy)."""
    return {
        f"{ALB}/scheme": scheme,
        f"{ALB}/target-type": "ip",
        f"{ALB}/listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": HTTPS_PORT}]),
        f"{ALB}/ssl-redirect": str(HTTPS_PORT),
        f"{ALB}/ssl-policy": SSL_POLICY,
        # The ALB, its listeners and target groups: cost allocation like every AWS resource.
        f"{ALB}/tags": ",".join(f"{key}={tags[key]}" for key in sorted(tags)),
    }


def certificate_annotation(certificate_arn: Any) -> dict[str, Any]:
    """The listener's certificate; without it the controller discovers an issued ACM certificate
    for the Ingress's TLS hosts (docs/guide/ingress/cert_discovery.md)."""
    return {} if certificate_arn is None else {f"{ALB}/certificate-arn": certificate_arn}


def ingress_group(tenant: str) -> str:
    """The IngressGroup of a tenant's apps: one ALB per tenant, its apps told apart by host.
    Kyverno's `restrict-ingress-group` admits no other group in the tenant's namespaces."""
    return f"tenant-{tenant}"
