module hardening.dev/tests/controlplane/report-crds

go 1.26.0

// The published policy report CRDs the tests install (tests/controlplane/fetch-report-crds.sh):
// OpenReports (openreports.io/v1alpha1) and wgpolicyk8s.io/v1alpha2 as Kyverno ships it.
// Only downloaded, never built; go.sum pins their content.
require (
	github.com/kyverno/kyverno v1.19.1
	github.com/openreports/reports-api v0.2.1
)
