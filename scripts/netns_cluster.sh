#!/usr/bin/env bash
# A test cluster of H "hosts" on this one machine, for tpbench's multi-host tests and
# docs/multinode.md. Each host is a network namespace tpb-hI with its own address on a
# bridge (10.77.0.(I+1)/24; the root namespace, where mpirun runs, is 10.77.0.1) and its own
# hostname hI (a UTS namespace the launch agent enters). Inter-host traffic is TCP over the
# veth pairs, shaped with tc tbf when a rate is given; ranks of one host share memory as on
# a real node (same machine, same /dev/shm). Open MPI starts its daemons without ssh: its
# plm_rsh_agent is this script's `agent`, which runs the daemon inside the host's namespaces.
#
#   netns_cluster.sh check            exit 0 when this machine can make one (root, ip netns,
#                                     tc); else print why and exit 77 (ctest's skip code)
#   netns_cluster.sh up H [RATE]      make H hosts (a previous cluster is removed first);
#                                     RATE: tc tbf rate of every host's link, e.g. 1gbit
#   netns_cluster.sh hosts H SLOTS    the --hosts value: 10.77.0.2:SLOTS,10.77.0.3:SLOTS,...
#   netns_cluster.sh env              the environment a run needs (export lines, for eval)
#   netns_cluster.sh down             remove every namespace, link and process it made
#   netns_cluster.sh agent HOST CMD   (Open MPI calls this) run CMD on HOST
set -euo pipefail

PREFIX=tpb-h
BRIDGE=tpb-br0
NET=10.77.0
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"

die() { echo "netns_cluster: $*" >&2; exit 1; }

check() {
  [[ $EUID -eq 0 ]] || { echo "netns_cluster: needs root (network namespaces)"; exit 77; }
  command -v ip >/dev/null && command -v tc >/dev/null && command -v unshare >/dev/null ||
    { echo "netns_cluster: needs ip, tc (iproute2) and unshare (util-linux)"; exit 77; }
  local probe="tpb-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then echo "netns_cluster: cannot create network namespaces here"; exit 77; fi
  if ! ip link add "tpbp$$a" type veth peer name "tpbp$$b" 2>/dev/null; then
    ip netns del "$probe"; echo "netns_cluster: cannot create veth pairs here"; exit 77
  fi
  local ok=1
  tc qdisc add dev "tpbp$$a" root tbf rate 1gbit burst 512kb latency 100ms 2>/dev/null || ok=0
  ip link del "tpbp$$a" 2>/dev/null || true
  ip netns del "$probe"
  ((ok)) || { echo "netns_cluster: cannot shape links here (tc tbf)"; exit 77; }
  if ! ip link add "tpbp$$br" type bridge 2>/dev/null; then echo "netns_cluster: cannot create bridges here"; exit 77; fi
  ip link del "tpbp$$br" 2>/dev/null || true
  command -v mpirun >/dev/null || { echo "netns_cluster: needs mpirun (openmpi-bin)"; exit 77; }
}

down() {
  # Daemons and ranks first (anything still running inside a namespace), then the links.
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PREFIX}[0-9]*$" || true); do
    local pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n "$pids" ]] && kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  local l
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^${PREFIX}[0-9]*a$\|^${BRIDGE}$" || true); do
    ip link del "$l" 2>/dev/null || true
  done
}

up() {
  local n="$1" rate="${2:-}"
  [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "up: H must be 1..99, got '$n'"
  down
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local i
  for ((i = 1; i <= n; i++)); do
    local ns="$PREFIX$i" outside="$PREFIX${i}a"
    ip netns add "$ns"
    ip link add "$outside" type veth peer name eth0 netns "$ns"
    ip link set "$outside" master "$BRIDGE" up
    ip -n "$ns" addr add "$NET.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" route add default via "$NET.1"
    if [[ -n "$rate" ]]; then
      # Both directions: into the host (the bridge side's egress) and out of it.
      tc qdisc add dev "$outside" root tbf rate "$rate" burst 512kb latency 100ms
      tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst 512kb latency 100ms
    fi
  done
}

hosts() {
  local n="$1" slots="$2" out="" i
  for ((i = 1; i <= n; i++)); do out+="${out:+,}$NET.$((i + 1)):$slots"; done
  echo "$out"
}

env_lines() {
  # Daemons started by the agent; inter-host traffic over TCP on the bridge only, shared
  # memory within a host (vader) and to itself.
  cat <<EOT
export OMPI_MCA_plm_rsh_agent="$SELF agent"
export OMPI_MCA_btl=tcp,vader,self
export OMPI_MCA_btl_tcp_if_include=$NET.0/24
export OMPI_MCA_oob_tcp_if_include=$NET.0/24
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
EOT
}

agent() {
  # Open MPI's rsh launcher calls: AGENT [options] HOST COMMAND... (COMMAND is shell text).
  while [[ $# -gt 0 && "$1" == -* ]]; do shift; done
  local host="$1"; shift
  [[ "$host" =~ ^$NET\.([0-9]+)$ ]] || die "agent: unknown host '$host'"
  local i=$((BASH_REMATCH[1] - 1))
  exec ip netns exec "$PREFIX$i" unshare --uts /bin/sh -c "hostname h$i && exec /bin/sh -c \"\$0\"" "$*"
}

case "${1:-}" in
  check) check ;;
  up) shift; up "$@" ;;
  down) down ;;
  hosts) shift; hosts "$@" ;;
  env) env_lines ;;
  agent) shift; agent "$@" ;;
  *) die "usage: $0 check | up H [RATE] | hosts H SLOTS | env | down | agent HOST CMD" ;;
esac
