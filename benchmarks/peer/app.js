#!/usr/bin/env node
// The peer the offline plan is measured against: an EKS Blueprints cluster with N application
// teams, built the way the EKS Blueprints docs show (the builder, the stock add-ons,
// `ApplicationTeam`), synthesised offline by `cdk synth`.
//
// Plain JavaScript, so `cdk synth` runs it directly with node (no TypeScript compile step in the
// measured time): the peer is measured at its fastest.
//
// The add-ons are those closest to what the platform installs:
//   platform                                 here
//   VPC CNI, CoreDNS, kube-proxy, EBS CSI    VpcCniAddOn, CoreDnsAddOn, KubeProxyAddOn, EbsCsiDriverAddOn
//   AWS Load Balancer Controller             AwsLoadBalancerControllerAddOn
//   cert-manager                             CertManagerAddOn
//   external-dns                             ExternalDnsAddOn (zone imported by id: no lookup)
//   kube-prometheus-stack                    KubeStateMetricsAddOn, PrometheusNodeExporterAddOn
//   logs                                     AwsForFluentBitAddOn
//   External Secrets Operator                ExternalsSecretsAddOn
//   Kyverno (policy)                         OpaGatekeeperAddOn (Blueprints' policy engine)
//   Argo CD                                  ArgoCDAddOn
//   metrics-server, cluster autoscaler       MetricsServerAddOn, ClusterAutoScalerAddOn
// (Argo Rollouts has no stock add-on.) Core add-on versions are pinned to the versions
// Blueprints itself maps to Kubernetes 1.35: with "auto" it would ask the EKS API at synth time.
//
// Each team gets what a platform tenant gets where Blueprints has it: a namespace with labels,
// a resource quota (namespaceHardLimits), and its users mapped through a team role.
//
// Environment: PEER_TEAMS (default 40). Account and region are fixed and the availability zones
// come from cdk.context.json, so synth needs no AWS credentials and no network.

const cdk = require("aws-cdk-lib");
const eks = require("aws-cdk-lib/aws-eks");
const iam = require("aws-cdk-lib/aws-iam");
const blueprints = require("@aws-quickstart/eks-blueprints");

const ACCOUNT = "123456789012";
const REGION = "us-east-1";
const HOSTED_ZONE_ID = "Z0123456789EXAMPLE";
const TEAMS = Number.parseInt(process.env.PEER_TEAMS || "40", 10);

function team(index) {
  const name = `team-${String(index).padStart(4, "0")}`;
  return new blueprints.ApplicationTeam({
    name,
    namespace: name,
    namespaceLabels: { "app.kubernetes.io/managed-by": "paved-road", "paved-road/tenant": name },
    namespaceHardLimits: {
      "requests.cpu": "4",
      "requests.memory": "8Gi",
      "limits.cpu": "4",
      "limits.memory": "8Gi",
      pods: "50",
    },
    users: [
      new iam.ArnPrincipal(`arn:aws:iam::${ACCOUNT}:role/${name}-admins`),
      new iam.ArnPrincipal(`arn:aws:iam::${ACCOUNT}:role/${name}-devs`),
    ],
  });
}

const addOns = [
  new blueprints.addons.VpcCniAddOn({ version: "v1.21.1-eksbuild.1" }),
  new blueprints.addons.CoreDnsAddOn("v1.13.2-eksbuild.3"),
  new blueprints.addons.KubeProxyAddOn("v1.35.0-eksbuild.2"),
  new blueprints.addons.EbsCsiDriverAddOn({ version: "v1.57.1-eksbuild.1" }),
  new blueprints.addons.AwsLoadBalancerControllerAddOn(),
  new blueprints.addons.CertManagerAddOn(),
  new blueprints.addons.ExternalDnsAddOn({ hostedZoneResources: ["platform-zone"] }),
  new blueprints.addons.KubeStateMetricsAddOn(),
  new blueprints.addons.PrometheusNodeExporterAddOn(),
  new blueprints.addons.AwsForFluentBitAddOn(),
  new blueprints.addons.ExternalsSecretsAddOn(),
  new blueprints.addons.OpaGatekeeperAddOn(),
  new blueprints.addons.ArgoCDAddOn(),
  new blueprints.addons.MetricsServerAddOn(),
  new blueprints.addons.ClusterAutoScalerAddOn(),
];

const app = new cdk.App();
blueprints.EksBlueprint.builder()
  .account(ACCOUNT)
  .region(REGION)
  .version(eks.KubernetesVersion.V1_35)
  .resourceProvider(
    "platform-zone",
    new blueprints.ImportHostedZoneProvider(HOSTED_ZONE_ID, "platform-zone"),
  )
  .addOns(...addOns)
  .teams(...Array.from({ length: TEAMS }, (_, index) => team(index)))
  .build(app, "eks-blueprint-peer");
