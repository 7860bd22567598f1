# Teardown of one test node (tests/harness/node.rs), run by `sh -c` in its own process
# group: it reads what the node is made of from standard input, one `key value` line at a
# time, and when standard input closes (the node is dropped, or its owner died in any way,
# even SIGKILL) it removes all of it:
#   dir PATH            the node's one directory (containerd, kubelet, CNI state, logs)
#   pgid N              a process group the harness started (containerd, kubelet, scheduler)
#   bridge NAME         the pod bridge link
#   cgroup NAME         the kubelet's cgroup root, /NAME in every cgroup hierarchy
#   network NAME        the CNI network name (containerd's CNI cache under /var/lib/cni)
#   address PATH        containerd's socket (shims' sockets in /run/containerd/s are named
#                       after it)
#   marker NAME         the file name that marks host directories as used by this node
#   host-dir PATH       a directory outside PATH that no one but test nodes use: this
#                       node's marker in it is removed, then the directory if empty
#                       (listed deepest first)
#   sysctl NAME VALUE   a kernel setting the kubelet changes at start-up, with the value to
#                       put back (NAME relative to /proc/sys)
#   sysctls-restored    the harness put them back itself already
# Only what these lines name is touched: several nodes (and test runs) can share a machine.
trap '' INT HUP
dir="" pgids="" bridge="" cgroup="" network="" address="" marker="" host_dirs="" sysctls="" restored=""
while read -r key value; do
  case "$key" in
    dir) dir=$value ;;
    pgid) pgids="$pgids $value" ;;
    bridge) bridge=$value ;;
    cgroup) cgroup=$value ;;
    network) network=$value ;;
    address) address=$value ;;
    marker) marker=$value ;;
    host-dir) host_dirs="$host_dirs $value" ;;
    sysctl) sysctls="$sysctls $(printf '%s' "$value" | tr ' ' '=')" ;;
    sysctls-restored) restored=1 ;;
  esac
done
[ -n "$dir" ] || exit 0

# 1. The harness's processes: SIGTERM, then SIGKILL after 5 s.
for p in $pgids; do kill -TERM "-$p" 2>/dev/null; done
i=0
while [ "$i" -lt 50 ]; do
  alive=""
  for p in $pgids; do kill -0 "-$p" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1; i=$((i + 1))
done
for p in $pgids; do kill -KILL "-$p" 2>/dev/null; done

# 2. What outlives containerd: its shims (their command line names the node's socket) and
# the containers' processes (in the node's cgroups).
leftover_processes() {
  for status in /proc/[0-9]*/cgroup; do
    pid=${status#/proc/}; pid=${pid%/cgroup}
    [ "$pid" = "$$" ] && continue
    if { [ -n "$cgroup" ] && grep -q ":/$cgroup\(/\|\$\)" "$status" 2>/dev/null; } ||
       tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/"; then
      echo "$pid"
    fi
  done
}
i=0
while [ "$i" -lt 100 ]; do
  pids=$(leftover_processes)
  [ -z "$pids" ] && break
  for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
  sleep 0.1; i=$((i + 1))
done

# 3. Mounts under the directory (the kubelet's root bind-mounted onto itself, volumes,
# container root filesystems, sandbox shm, network namespaces), deepest first.
i=0
while [ "$i" -lt 20 ]; do
  mounts=$(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  [ -z "$mounts" ] && break
  for m in $mounts; do umount -l "$m" 2>/dev/null; done
  i=$((i + 1))
done

# 4. The bridge (the pods' veth links go with their network namespaces).
[ -n "$bridge" ] && ip link delete "$bridge" 2>/dev/null

# 5. The cgroup root in every hierarchy, once its processes are gone.
if [ -n "$cgroup" ]; then
  for m in $(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) ~ /^cgroup2?$/) print $5; break } }' /proc/self/mountinfo); do
    i=0
    while [ -d "$m/$cgroup" ] && [ "$i" -lt 50 ]; do
      find "$m/$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null
      [ -d "$m/$cgroup" ] && sleep 0.1
      i=$((i + 1))
    done
  done
fi

# 6. containerd 1.6 keeps some state outside its own directories whatever its
# configuration says: shim sockets /run/containerd/s/<sha256 of address/namespace/id>, and
# the CNI cache /var/lib/cni/results/<network>-<sandbox>-<interface> (for the pod network
# and containerd's own loopback network `cni-loopback`).
if [ -n "$address" ]; then
  for bundle in "$dir"/containerd/state/io.containerd.runtime.v2.task/*/*; do
    [ -d "$bundle" ] || continue
    id=${bundle##*/}; ns=${bundle%/*}; ns=${ns##*/}
    hash=$(printf '%s' "$address/$ns/$id" | sha256sum | cut -c1-64)
    rm -f "/run/containerd/s/$hash"
  done
fi
for sandbox in "$dir"/containerd/root/io.containerd.grpc.v1.cri/sandboxes/*; do
  [ -d "$sandbox" ] && rm -f /var/lib/cni/results/cni-loopback-"${sandbox##*/}"-*
done
[ -n "$network" ] && rm -f /var/lib/cni/results/"$network"-*
# The kubelet's /var/log/containers links into the node's pod logs.
for link in /var/log/containers/*.log; do
  [ -L "$link" ] || continue
  case $(readlink "$link") in "$dir"/*) rm -f "$link" ;; esac
done
for d in $host_dirs; do
  [ -n "$marker" ] && rm -f "$d/$marker"
  rmdir "$d" 2>/dev/null
done

# 7. Kernel settings the kubelet changed at start-up.
if [ -z "$restored" ]; then
  for setting in $sysctls; do
    printf '%s\n' "${setting#*=}" > "/proc/sys/${setting%%=*}" 2>/dev/null
  done
fi

# 8. The directory; never across a file system boundary (a mount that could not be removed).
rm -rf --one-file-system "$dir"
