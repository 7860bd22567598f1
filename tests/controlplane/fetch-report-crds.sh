#!/usr/bin/env bash
# Fetches (once per machine) the published report CRDs the tests install: OpenReports'
# (github.com/openreports/reports-api, config/crd/), wgpolicyk8s.io v1alpha2 as Kyverno ships
# it (github.com/kyverno/kyverno, config/crds/policyreport/) and the Trivy Operator's
# VulnerabilityReport as its Helm chart ships it (github.com/aquasecurity/trivy-operator,
# deploy/helm/crds/) and network-policy-api's ClusterNetworkPolicy (sigs.k8s.io/
# network-policy-api, config/crd/standard/), at the releases pinned in report-crds/go.mod,
# from the Go module proxy; go.sum pins their content. Nothing is built. Prints the
# directory holding the six CRD files on the last line of stdout; progress goes to stderr.
# About 30 MB, a few seconds, cached in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/report-crds-<hash>/
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module="$here/report-crds"
prefix=report-crds
# shellcheck source=lib.sh
. "$here/lib.sh"

hash=$(cat "$module/go.mod" "$module/go.sum" "$here/fetch-report-crds.sh" | sha256sum | cut -c1-12)
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
out="$cache_root/report-crds-$hash"
files=(openreports.io_reports.yaml openreports.io_clusterreports.yaml
       wgpolicyk8s.io_policyreports.yaml wgpolicyk8s.io_clusterpolicyreports.yaml
       aquasecurity.github.io_vulnerabilityreports.yaml
       policy.networking.k8s.io_clusternetworkpolicies.yaml)

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [ ! -f "$out/${files[5]}" ]; then
  check_go "the policy report CRDs"
  say "downloading the OpenReports, wgpolicyk8s.io, Trivy Operator and ClusterNetworkPolicy CRDs from the Go module proxy (first run on this machine: a few seconds)"
  dir_of() { (cd "$module" && go mod download -json "$1") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p'; }
  openreports=$(dir_of github.com/openreports/reports-api)
  kyverno=$(dir_of github.com/kyverno/kyverno)
  trivy=$(dir_of github.com/aquasecurity/trivy-operator)
  npapi=$(dir_of sigs.k8s.io/network-policy-api)
  [ -d "$openreports" ] && [ -d "$kyverno" ] && [ -d "$trivy" ] && [ -d "$npapi" ] || die "go mod download did not give the modules' directories"
  cp "$openreports/config/crd/openreports.io_reports.yaml" \
     "$openreports/config/crd/openreports.io_clusterreports.yaml" \
     "$kyverno/config/crds/policyreport/wgpolicyk8s.io_policyreports.yaml" \
     "$kyverno/config/crds/policyreport/wgpolicyk8s.io_clusterpolicyreports.yaml" \
     "$trivy/deploy/helm/crds/aquasecurity.github.io_vulnerabilityreports.yaml" \
     "$npapi/config/crd/standard/policy.networking.k8s.io_clusternetworkpolicies.yaml" "$out/"
  chmod u+w "$out"/*.yaml
fi
echo "$out"
