#!/usr/bin/env bash
# Builds (once per machine) the Kubernetes binaries the tests and the demo run against, and
# makes sure etcd is installed. Prints the directory that holds kube-apiserver,
# kube-controller-manager, kubectl, kubelet, kube-scheduler (the last two for the tests'
# node, see tests/harness/node.rs) and etcd on its last line of stdout; progress goes to
# stderr.
#
# The binaries come from the Go module proxy: kubernetes/go.mod requires k8s.io/kubernetes
# at one pinned release (see pin-kubernetes.sh). They are cached outside the clone, keyed by
# that release and a hash of go.mod/go.sum, in
#   ${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}/kubernetes-<version>-<hash>/
# so only the first run on a machine pays for the build (about 11 minutes on 2 cores: 640 s measured on a fresh machine).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module="$here/kubernetes"
prefix=controlplane
# shellcheck source=lib.sh
. "$here/lib.sh"

version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' "$module/go.mod")
[ -n "$version" ] || die "cannot read the pinned k8s.io/kubernetes version from $module/go.mod"
hash=$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)
cache_root=${HARDENING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardening-operator}
bin="$cache_root/kubernetes-$version-$hash"

ensure_etcd() {
  if [ -x "$bin/etcd" ]; then return; fi
  local etcd
  etcd=$(command -v etcd || true)
  if [ -z "$etcd" ] && [ -x /usr/bin/etcd ]; then etcd=/usr/bin/etcd; fi
  if [ -z "$etcd" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing etcd from Debian (package etcd-server)"
      # Installing must not start a system etcd on the default ports.
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' RETURN
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server) >&2 \
        || die "apt-get install etcd-server failed; install etcd 3.4+ and put it on PATH"
      systemctl disable --now etcd >/dev/null 2>&1 || true
      etcd=/usr/bin/etcd
    else
      die "etcd is missing: run 'sudo apt-get install etcd-server' (or put an etcd 3.4+ binary on PATH)"
    fi
  fi
  ln -sf "$etcd" "$bin/etcd"
}

build() {
  local cmd=$1 minor
  minor=${version#v1.}; minor=${minor%%.*}
  say "building $cmd $version from the Go module proxy (first run on this machine: several minutes; later runs reuse $bin)"
  go_build "$module" "$bin/$cmd" "k8s.io/kubernetes/cmd/$cmd" \
    "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
}

mkdir -p "$bin"
# One build at a time per cache directory, even with parallel test runs.
exec 9>"$bin/.lock"
flock 9
commands=(kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler)
for cmd in "${commands[@]}"; do
  if [ ! -x "$bin/$cmd" ]; then
    check_go "Kubernetes $version"
    build "$cmd"
  fi
done
ensure_etcd
"$bin/etcd" --version >/dev/null 2>&1 || die "$bin/etcd does not run"
echo "$bin"
