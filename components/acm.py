"""ACM certificates the platform requests for the hosts it serves, validated through Route 53.

A certificate is requested for one host, ACM names a CNAME that proves control of the domain, the
platform writes that record into the configured zone holding the host, and a CertificateValidation
waits until ACM has issued the certificate. Its `certificate_arn` is what a load balancer listener
uses, so an Ingress holding it is created only once the certificate is usable. The record is built
from the certificate's outputs, never inside an `apply`, so a preview shows all three resources.
"""

from __future__ import annotations

from typing import Mapping

import pulumi
import pulumi_aws as aws

# ACM's own examples use a short TTL: the record is read once, by ACM, at issue and at renewal.
VALIDATION_RECORD_TTL = 60


def validated_certificate(
    name: str,
    *,
    host: str,
    zone_id: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """A DNS-validated ACM certificate for `host`; returns its ARN once ACM has issued it.

    ACM renews a DNS-validated certificate by itself as long as the validation record stays, so
    the record lives as long as the certificate does.
    """
    child = pulumi.ResourceOptions(parent=parent)
    certificate = aws.acm.Certificate(
        f"{name}/certificate",
        domain_name=host,
        validation_method="DNS",
        tags=dict(tags),
        opts=child,
    )
    # One domain, one validation option: ACM answers a single-name request with exactly one.
    option = certificate.domain_validation_options[0]
    record = aws.route53.Record(
        f"{name}/certificate-validation-record",
        zone_id=zone_id,
        name=option.resource_record_name,
        type=option.resource_record_type,
        records=[option.resource_record_value],
        ttl=VALIDATION_RECORD_TTL,
        # A replacement certificate for the same name gets the same CNAME from ACM: overwrite
        # the old certificate's record instead of failing on it.
        allow_overwrite=True,
        opts=child,
    )
    validation = aws.acm.CertificateValidation(
        f"{name}/certificate-validation",
        certificate_arn=certificate.arn,
        validation_record_fqdns=[record.fqdn],
        opts=child,
    )
    return validation.certificate_arn
