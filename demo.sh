#!/usr/bin/env bash
# The demo: a local Kubernetes control plane (or your current cluster), the operator, the
# example profiles and three labelled namespaces; then what kubectl users see.
#
#   ./demo.sh                        # local control plane on loopback, removed at the end
#   ./demo.sh --keep                 # ... and keep everything running until Ctrl-C
#   ./demo.sh --current-context      # use the cluster of your current kubeconfig instead
#
# A first run on a machine builds Kubernetes from the Go module proxy (about 8 minutes on
# 2 cores) and the operator (a few minutes); it shows progress while it does.
set -euo pipefail
cd "$(dirname "$0")"

keep=false
current_context=false
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    --current-context) current_context=true ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/hardening-demo.XXXXXX")
pids=()
cleanup() {
  status=$?
  if [ "$current_context" = true ] && [ "$keep" = false ]; then
    "$kubectl" delete -f examples/ --ignore-not-found --wait=true >/dev/null 2>&1 || true
    "$kubectl" delete namespace demo-strict demo-baseline demo-audit --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  exec 3>&- 2>/dev/null || true
  # Operator first, then the control plane (SIGTERM: both shut down gracefully).
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null || true; done
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "Building the operator (cargo build)"
cargo build --locked -p hardening-operator -p hardening-tests --bin hardening-operator --bin hardening-controlplane 2>&1 | grep -v '^\s*Compiling' >&2 || true
[ -x target/debug/hardening-operator ] || { echo "demo.sh: the build failed" >&2; exit 1; }

if [ "$current_context" = true ]; then
  kubectl=$(command -v kubectl) || { echo "demo.sh: kubectl is not on PATH" >&2; exit 1; }
  step "Using the current context: $("$kubectl" config current-context)"
else
  step "Starting a local control plane (etcd, kube-apiserver, kube-controller-manager)"
  bin=$(tests/controlplane/build.sh | tail -n 1)
  kubectl="$bin/kubectl"
  # The control plane runs while its standard input is open: a FIFO this script holds.
  mkfifo "$work/controlplane.in"
  HARDENING_K8S_BIN_DIR="$bin" target/debug/hardening-controlplane < "$work/controlplane.in" > "$work/controlplane.out" 2> "$work/controlplane.log" &
  pids+=($!)
  exec 3> "$work/controlplane.in"
  for _ in $(seq 1 300); do grep -q '^export KUBECONFIG=' "$work/controlplane.out" 2>/dev/null && break; sleep 0.2; done
  grep -q '^export KUBECONFIG=' "$work/controlplane.out" || { echo "demo.sh: the control plane did not start" >&2; exit 1; }
  eval "$(grep '^export KUBECONFIG=' "$work/controlplane.out")"
  echo "KUBECONFIG=$KUBECONFIG"
fi

step "Installing the HardeningProfile CRD (crds/)"
"$kubectl" apply --server-side -f crds/
"$kubectl" wait --for condition=Established crd/hardeningprofiles.hardening.dev --timeout=60s

step "Running the operator (logs: $work/operator.log)"
target/debug/hardening-operator run > "$work/operator.log" 2>&1 &
pids+=($!)

step "Creating three namespaces and applying the example profiles (examples/)"
"$kubectl" create namespace demo-strict --dry-run=client -o yaml | "$kubectl" label --local -f - hardening.dev/tier=strict team=payments -o yaml | "$kubectl" apply -f -
"$kubectl" create namespace demo-baseline --dry-run=client -o yaml | "$kubectl" label --local -f - hardening.dev/tier=baseline -o yaml | "$kubectl" apply -f -
"$kubectl" create namespace demo-audit --dry-run=client -o yaml | "$kubectl" label --local -f - hardening.dev/audit=true -o yaml | "$kubectl" apply -f -
"$kubectl" apply -f examples/
"$kubectl" wait --for=condition=Ready hardeningprofiles --all --timeout=60s

step "kubectl get hardeningprofiles"
"$kubectl" get hp
step "What the operator generated in demo-strict"
"$kubectl" get networkpolicies,resourcequotas,limitranges -n demo-strict -L hardening.dev/profile
step "Pod Security labels the operator set"
"$kubectl" get namespaces demo-strict demo-baseline demo-audit -L pod-security.kubernetes.io/enforce,pod-security.kubernetes.io/warn,hardening.dev/tier
step "A privileged pod in demo-strict is rejected by the API server"
"$kubectl" run privileged -n demo-strict --image=registry.example/app:1.0 --privileged 2>&1 | sed 's/^/    /' || true
step "An image from another registry, tagged latest, is rejected by the profile's guardrails"
"$kubectl" apply -n demo-strict -f - <<'POD' 2>&1 | sed 's/^/    /' || true
apiVersion: v1
kind: Pod
metadata:
  name: other-registry
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: app
      image: docker.io/library/nginx:latest
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
        readOnlyRootFilesystem: true
POD

step "Drift: someone raises the pod quota in demo-strict; the operator repairs it"
"$kubectl" patch resourcequota hardening-quota -n demo-strict --type=merge -p '{"spec":{"hard":{"pods":"999"}}}' --field-manager=kubectl-edit
sleep 2
echo "pods quota now: $("$kubectl" get resourcequota hardening-quota -n demo-strict -o jsonpath='{.spec.hard.pods}')"
step "A pod that Pod Security admits but that skips the profile's seccomp/AppArmor profiles is reported"
"$kubectl" apply -n demo-strict -f - <<'POD'
apiVersion: v1
kind: Pod
metadata:
  name: unconfined
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
    - name: app
      image: registry.example/app:1.0
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {drop: [ALL]}
        readOnlyRootFilesystem: true
POD
sleep 2
"$kubectl" get hp bsi-strict
"$kubectl" get hp bsi-strict -o jsonpath='{range .status.namespaces[*]}{range .pods[*]}{"    "}{.name}{": "}{.reason}{"\n"}{end}{end}'
step "kubectl describe hardeningprofile bsi-strict"
"$kubectl" describe hp bsi-strict
step "Audit mode only reports: demo-audit got nothing and is listed as drifted"
"$kubectl" get hp audit-only -o jsonpath='{range .status.namespaces[*]}{.name}{": "}{.state}{" ("}{.drift[0].field}{" ...)"}{"\n"}{end}'

if [ "$keep" = true ]; then
  step "Everything keeps running; in another shell: export KUBECONFIG=${KUBECONFIG:-~/.kube/config}. Ctrl-C stops it."
  while true; do sleep 3600; done
fi
step "Done; stopping the operator and the control plane"
