#!/usr/bin/env bash
# The release recipe, in one script: everything a release publishes, built here without a
# Docker engine, into one directory (default dist/):
#   hardening-operator-<version>.oci.tar      the container image, an OCI image layout
#                                             archive (the static binary of
#                                             tests/build-static.sh alone, user 65532: the
#                                             Dockerfile's distroless image)
#   hardening-operator-<version>.oci/         the same layout unpacked, for skopeo, crane,
#                                             oras, podman (`oci:DIR:<version>`)
#   hardening-operator-<chart version>.tgz    the Helm chart (`helm package`), its default
#                                             image set to REGISTRY/hardening-operator
#   hardening-operator-<version>.cdx.json     a CycloneDX SBOM of the operator's crates
#                                             (cargo-cyclonedx, release/sbom-tool.sh)
#   SHA256SUMS                                the checksums of all of the above files
#
#   release/release.sh [--out DIR] [--registry REGISTRY] [--push [--plain-http]]
#
# REGISTRY (default registry.example) is where the image and chart are to be pushed, e.g.
# ghcr.io/acme: the image REGISTRY/hardening-operator:<version>, the chart
# oci://REGISTRY/charts/hardening-operator. --push pushes them there (the image and its SBOM
# with oras, built once from the Go module proxy; the chart with helm push), using the
# credentials of `oras login` / `helm registry login` (--plain-http: a registry without TLS,
# such as one on localhost). Without --push nothing leaves this machine. Signing is left to the registry's tooling (cosign sign of the pushed digest).
#
# HARDENING_STATIC_BINARY names an already built static binary (tests/run.sh builds one),
# else tests/build-static.sh builds it (cargo profile `dist`, fat LTO: about 15 minutes on 2
# cores from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."

die() { printf 'release: %s\n' "$*" >&2; exit 1; }
say() { printf 'release: %s\n' "$*" >&2; }

out=dist registry=registry.example push=false plain_http=() to_plain_http=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --registry) registry=${2:?--registry needs a registry such as ghcr.io/acme}; shift 2 ;;
    --push) push=true; shift ;;
    --plain-http) plain_http=(--plain-http) to_plain_http=(--to-plain-http); shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
registry=${registry%/}

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
chart=charts/hardening-operator
chart_version=$(sed -n 's/^version: *//p' "$chart/Chart.yaml")
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' "$chart/Chart.yaml")
[ -n "$version" ] || die "cannot read the workspace version from Cargo.toml"
[ "$app_version" = "$version" ] || die "$chart/Chart.yaml appVersion $app_version is not the workspace version $version"
image="$registry/hardening-operator:$version"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hardening-release.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "1/5 the static binary"
binary=${HARDENING_STATIC_BINARY:-$(tests/build-static.sh | tail -n 1)}
[ -x "$binary" ] || die "no static binary at $binary"

say "2/5 the image $image as an OCI image layout"
cargo build --locked --quiet -p hardening-tests --bin hardening-oci-image >&2
layout="$out/hardening-operator-$version.oci"
target/debug/hardening-oci-image --binary "$binary" --name "$image" --output "$layout.tar"
rm -rf "$layout" && mkdir -p "$layout" && tar -xf "$layout.tar" -C "$layout"

say "3/5 the chart, its default image $registry/hardening-operator"
helm=${HARDENING_HELM:-$(tests/controlplane/build-helm.sh | tail -n 1)}
# A copy whose values and Artifact Hub image name the released image; crds/ is copied as
# the file files/crds links to.
cp -rL "$chart" "$work/hardening-operator"
sed -i "s|^  repository: hardening-operator$|  repository: $registry/hardening-operator|" "$work/hardening-operator/values.yaml"
grep -q "^  repository: $registry/hardening-operator$" "$work/hardening-operator/values.yaml" || die "could not set image.repository in the chart's values.yaml"
sed -i "s|^      image: hardening-operator:$version$|      image: $image|" "$work/hardening-operator/Chart.yaml"
grep -q "^      image: $image$" "$work/hardening-operator/Chart.yaml" || die "could not set the artifacthub.io/images image in Chart.yaml"
"$helm" lint "$work/hardening-operator" >&2
"$helm" package "$work/hardening-operator" --destination "$out" >&2
package="$out/hardening-operator-$chart_version.tgz"
[ -f "$package" ] || die "helm package wrote no $package"

say "4/5 the CycloneDX SBOM"
cyclonedx=$(release/sbom-tool.sh | tail -n 1)
sbom_name="hardening-operator-$version.cdx"
"$cyclonedx" cyclonedx --manifest-path operator/Cargo.toml --format json \
  --spec-version 1.5 --target x86_64-unknown-linux-gnu --override-filename "$sbom_name" >&2
# It writes one file beside every workspace member's Cargo.toml: the operator's is the
# release's, the test harness's is not shipped.
mv "operator/$sbom_name.json" "$out/$sbom_name.json"
rm -f -- */"$sbom_name.json"

say "5/5 checksums"
(cd "$out" && sha256sum "hardening-operator-$version.oci.tar" "hardening-operator-$chart_version.tgz" "$sbom_name.json" > SHA256SUMS)

if [ "$push" = true ]; then
  oras=$(release/oras-tool.sh | tail -n 1)
  say "pushing $image (and its SBOM) and oci://$registry/charts/hardening-operator:$chart_version"
  "$oras" cp "${to_plain_http[@]}" --from-oci-layout "$layout:$version" "$image" >&2
  (cd "$out" && "$oras" attach "${plain_http[@]}" --artifact-type application/vnd.cyclonedx+json \
    "$image" "$sbom_name.json:application/vnd.cyclonedx+json") >&2
  "$helm" push "${plain_http[@]}" "$package" "oci://$registry/charts" >&2
fi
say "done: $out"
ls -1 "$out" | sed 's/^/  /' >&2
echo "$out"
