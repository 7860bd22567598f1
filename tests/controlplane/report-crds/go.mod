module hardening.dev/tests/controlplane/report-crds

go 1.26.0

// The published CRDs the tests install (tests/controlplane/fetch-report-crds.sh): the policy
// reports of OpenReports (openreports.io/v1alpha1) and wgpolicyk8s.io/v1alpha2 as Kyverno
// ships it, the Trivy Operator's VulnerabilityReport (aquasecurity.github.io/v1alpha1, as
// its Helm chart ships it, deploy/helm/crds/) and network-policy-api's ClusterNetworkPolicy
// (standard channel, serving policy.networking.k8s.io/v1alpha2). Only downloaded, never
// built; go.sum pins their content.
require (
	github.com/aquasecurity/trivy-operator v0.29.0
	github.com/kyverno/kyverno v1.19.1
	github.com/openreports/reports-api v0.2.1
	sigs.k8s.io/network-policy-api v0.3.0
)
