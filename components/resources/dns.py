"""A DNS name for one of a tenant's apps: `<name>.<tenant>.<zone>`, served by the app's Ingress.

The name is always under the tenant's own subdomain of the stack's first DNS zone, so a tenant can
never take another tenant's name or the zone apex. It becomes one more host of the app's Ingress
(the same load balancer, the same release strategy), with its own DNS-validated certificate.

external-dns owns the Route 53 record, as it owns every record of an Ingress host: it writes the
alias to the load balancer once the controller has created it, with its TXT ownership record
beside it, and removes both when the name leaves the Ingress. Pulumi owns only the certificate's
validation record. One owner per record: nothing here writes the name's own record.
"""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi

from components.acm import validated_certificate
from components.config_base import zone_for
from components.resources_config import ResourceConfig, dns_host


class DnsName(pulumi.ComponentResource):
    host: str
    # The name's validated certificate (None: the app discovers its certificates).
    certificate_arn: Optional[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        resource: ResourceConfig,
        *,
        tenant: str,
        dns_zones: Mapping[str, str],
        request_certificate: bool,
        tags: Mapping[str, str],
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        super().__init__("paved-road:resources:DnsName", name, None, opts)
        domain = next(iter(dns_zones))
        self.host = dns_host(resource, tenant, domain)
        zone = zone_for(self.host, dns_zones)
        assert zone is not None, "the host is built under a configured zone"
        self.certificate_arn = (
            validated_certificate(
                name,
                host=self.host,
                zone_id=dns_zones[zone],
                tags={**tags, "paved-road:resource": resource.name},
                parent=self,
            )
            if request_certificate
            else None
        )
        self.register_outputs({"host": self.host})
