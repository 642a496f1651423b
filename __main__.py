"""Paved Road: one stack per environment. Everything it builds is decided by the stack's config."""

import pulumi

from components.config import load_platform_config
from components.platform import Platform

config = load_platform_config()
platform = Platform("platform", config)

pulumi.export("environment", config.environment)
pulumi.export("vpcId", platform.network.vpc_id)
pulumi.export("privateSubnetIds", platform.network.private_subnet_ids)
pulumi.export("clusterName", platform.cluster.cluster_name)
pulumi.export("oidcProviderArn", platform.cluster.oidc.arn)
pulumi.export("kubeconfig", platform.cluster.kubeconfig)
pulumi.export("platformNamespaces", platform.core.platform_namespaces)
pulumi.export("prometheusUrl", platform.core.prometheus_url)
