#!/usr/bin/env bash
# The demo: a local Kubernetes control plane (or your current cluster), the operator, the
# example profiles and the three namespaces of examples/namespaces.yaml; then what kubectl
# users see.
#
#   ./demo.sh                        # local control plane on loopback, removed at the end
#   ./demo.sh --keep                 # ... and keep everything running until Ctrl-C
#   ./demo.sh --current-context      # use the cluster of your current kubeconfig instead
#
# A first run on a fresh machine builds Kubernetes from the Go module proxy (about 11
# minutes on 2 cores) and the operator (about 4 minutes), showing progress; later runs start
# in seconds. Everything it starts uses free ports on loopback, so a busy machine (another
# service on 8080, another control plane) does not stop it; if the operator does not come
# up, its log is shown.
set -euo pipefail
cd "$(dirname "$0")"

keep=false
current_context=false
for arg in "$@"; do
  case "$arg" in
    --keep) keep=true ;;
    --current-context) current_context=true ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/hardening-demo.XXXXXX")
pids=()
kubectl=kubectl
# What went wrong, in the logs of what this script started (before they are removed).
show_logs() {
  for log in "$work/operator.log" "$work/controlplane.log" "$work/build.log"; do
    [ -s "$log" ] || continue
    printf '\n\033[1m--- last lines of %s ---\033[0m\n' "$(basename "$log")" >&2
    tail -n 30 "$log" | sed 's/\x1b\[[0-9;]*m//g' >&2
  done
}
cleanup() {
  status=$?
  if [ "$status" != 0 ] && [ "$status" != 130 ]; then show_logs; fi
  if [ "$current_context" = true ] && [ "$keep" = false ]; then
    "$kubectl" delete -f examples/audit-only.yaml -f examples/baseline.yaml -f examples/bsi-strict.yaml --ignore-not-found --wait=true >/dev/null 2>&1 || true
    "$kubectl" delete -f examples/namespaces.yaml --ignore-not-found --wait=false >/dev/null 2>&1 || true
  fi
  exec 3>&- 2>/dev/null || true
  # Operator first, then the control plane (SIGTERM: both shut down gracefully).
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null || true; done
  rm -rf "$work"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

step "Building the operator (cargo build; a first build takes a few minutes)"
started=$SECONDS
cargo build --locked -p hardening-operator -p hardening-tests --bin hardening-operator --bin hardening-controlplane > "$work/build.log" 2>&1 &
build=$!
while kill -0 "$build" 2>/dev/null; do
  sleep 10
  kill -0 "$build" 2>/dev/null || break
  note "still building: $(grep -c '^ *Compiling' "$work/build.log" || true) crates compiled so far ($((SECONDS - started)) s)"
done
wait "$build" || die "the build failed (its output is below)"
note "built in $((SECONDS - started)) s"
: > "$work/build.log"

if [ "$current_context" = true ]; then
  kubectl=$(command -v kubectl) || die "kubectl is not on PATH"
  step "Using the current context: $("$kubectl" config current-context)"
else
  step "Starting a local control plane (etcd, kube-apiserver, kube-controller-manager on free loopback ports)"
  bin=$(tests/controlplane/build.sh | tail -n 1)
  kubectl="$bin/kubectl"
  # The control plane runs while its standard input is open: a FIFO this script holds.
  mkfifo "$work/controlplane.in"
  HARDENING_K8S_BIN_DIR="$bin" target/debug/hardening-controlplane < "$work/controlplane.in" > "$work/controlplane.out" 2> "$work/controlplane.log" &
  pids+=($!)
  exec 3> "$work/controlplane.in"
  for _ in $(seq 1 300); do
    grep -q '^export KUBECONFIG=' "$work/controlplane.out" 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || die "the control plane stopped (its log is below)"
    sleep 0.2
  done
  grep -q '^export KUBECONFIG=' "$work/controlplane.out" || die "the control plane did not start within 60 s (its log is below)"
  eval "$(grep '^export KUBECONFIG=' "$work/controlplane.out")"
fi
step "The kubectl to use in another shell"
note "export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}"
note "alias kubectl=$kubectl    # Kubernetes v1.36.2, as the control plane"

step "Installing the CRDs (crds/: HardeningProfile, HardeningException)"
"$kubectl" apply --server-side -f crds/
# kubectl wait fails at once while the CRD has no conditions yet (a busy API server): retry.
established=false
for _ in $(seq 60); do
  if "$kubectl" wait --for condition=Established crd/hardeningprofiles.hardening.dev --timeout=1s >/dev/null 2>&1; then
    established=true
    break
  fi
  sleep 1
done
$established || die "the HardeningProfile CRD is not established after 60 s"

step "Running the operator (its metrics on a free loopback port)"
# Port 0: the system picks a free port; the operator logs the one it got.
target/debug/hardening-operator run --metrics-address 127.0.0.1:0 > "$work/operator.log" 2>&1 &
operator=$!
pids+=($operator)
address=
for _ in $(seq 1 100); do
  kill -0 "$operator" 2>/dev/null || die "the operator stopped (its log is below)"
  address=$(sed 's/\x1b\[[0-9;]*m//g' "$work/operator.log" | sed -n 's/.*serving \/metrics.*metrics_address=\([0-9.:]*\).*/\1/p' | head -n 1)
  [ -n "$address" ] && break
  sleep 0.2
done
[ -n "$address" ] || die "the operator did not start serving within 20 s (its log is below)"
ready=false
for _ in $(seq 1 100); do
  kill -0 "$operator" 2>/dev/null || die "the operator stopped (its log is below)"
  if exec 5<>"/dev/tcp/${address%:*}/${address##*:}" 2>/dev/null; then
    printf 'GET /readyz HTTP/1.0\r\n\r\n' >&5
    status=$(head -n 1 <&5 || true)
    exec 5>&- 5<&- || true
    case "$status" in *" 200 "*) ready=true; break ;; esac
  fi
  sleep 0.2
done
[ "$ready" = true ] || die "the operator was not ready within 20 s at http://$address/readyz (its log is below)"
note "ready: http://$address/readyz, metrics at http://$address/metrics"

step "Creating the three namespaces of examples/namespaces.yaml and applying the example profiles"
"$kubectl" apply -f examples/namespaces.yaml
"$kubectl" apply -f examples/audit-only.yaml -f examples/baseline.yaml -f examples/bsi-strict.yaml
waited=0
until "$kubectl" wait --for=condition=Ready hardeningprofiles --all --timeout=5s >/dev/null 2>&1; do
  kill -0 "$operator" 2>/dev/null || die "the operator stopped (its log is below)"
  waited=$((waited + 5))
  [ "$waited" -lt 120 ] || die "the profiles were not Ready within 2 minutes (the operator's log is below)"
  note "waiting for the profiles to be Ready ($waited s)"
done

step "kubectl get hardeningprofiles"
"$kubectl" get hp
step "What the operator generated in demo-strict"
"$kubectl" get networkpolicies,resourcequotas,limitranges -n demo-strict -L hardening.dev/profile
step "Pod Security labels the operator set"
"$kubectl" get namespaces demo-strict demo-baseline demo-audit -L pod-security.kubernetes.io/enforce,pod-security.kubernetes.io/warn,hardening.dev/tier
step "A privileged pod in demo-strict is rejected by the API server"
"$kubectl" run privileged -n demo-strict --image=registry.example/app:1.0 --privileged 2>&1 | sed 's/^/    /' || true
step "An image from another registry, tagged latest, is rejected by the profile's guardrails"
cat > "$work/other-registry.yaml" <<'POD'
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
# The API server loads a new ValidatingAdmissionPolicy within a few seconds of its creation.
for _ in $(seq 1 60); do
  "$kubectl" apply --dry-run=server -n demo-strict -f "$work/other-registry.yaml" >/dev/null 2>&1 || break
  sleep 0.5
done
"$kubectl" apply -n demo-strict -f "$work/other-registry.yaml" 2>&1 | sed 's/^/    /' || true

step "Drift: someone raises the pod quota in demo-strict; the operator repairs it"
"$kubectl" patch resourcequota hardening-quota -n demo-strict --type=merge -p '{"spec":{"hard":{"pods":"999"}}}' --field-manager=kubectl-edit
sleep 2
echo "pods quota now: $("$kubectl" get resourcequota hardening-quota -n demo-strict -o jsonpath='{.spec.hard.pods}')"
step "A pod that Pod Security admits but that skips the profile's seccomp/AppArmor profiles is rejected (guardrails.requireProfiles)"
"$kubectl" apply -n demo-strict -f - 2>&1 <<'POD' | sed 's/^/    /' || true
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
"$kubectl" get hp bsi-strict
step "kubectl describe hardeningprofile bsi-strict"
"$kubectl" describe hp bsi-strict
step "Audit mode only reports: demo-audit got nothing and is listed as drifted"
"$kubectl" get hp audit-only -o jsonpath='{range .status.namespaces[*]}{.name}{": "}{.state}{" ("}{.drift[0].field}{" ...)"}{"\n"}{end}'

if [ "$keep" = true ]; then
  step "Everything keeps running; in another shell: export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config} and use $kubectl. Ctrl-C stops it."
  while true; do sleep 3600; done
fi
step "Done; stopping the operator and the control plane"
