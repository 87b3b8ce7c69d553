#!/usr/bin/env bash
# The multi-host study of docs/multinode.md on the test cluster (scripts/netns_cluster.sh):
# 2 hosts x 2 ranks, the inter-host links shaped to each RATE with tc tbf. Per rate:
#   comm all_reduce (1 to 32 MiB: the sizes of the DP buckets) on the TP groups of --tp 2 (within a host), the DP groups of --tp 2
#   (across hosts, 2 ranks) and the world (across hosts, 4 ranks), with alpha-beta fits;
#   train (small preset) at tp 1 x dp 4, tp 2 x dp 2 and tp 4 x dp 1 (--allow-tp-across-hosts).
# Needs root. Usage: bench/multinode_study.sh TPBENCH OUT_DIR [RATE...]   (default: 1gbit 10gbit)
set -euo pipefail
tpbench="$(realpath "$1")"; out="$(realpath -m "$2")"; shift 2
rates=("$@"); ((${#rates[@]})) || rates=(1gbit 10gbit)
here="$(cd "$(dirname "$0")/.." && pwd)"
cluster="$here/scripts/netns_cluster.sh"
trap 'bash "$cluster" down' EXIT
mkdir -p "$out"
for rate in "${rates[@]}"; do
  bash "$cluster" up 2 "$rate"
  eval "$(bash "$cluster" env)"
  hosts="$(bash "$cluster" hosts 2 2)"
  d="$out/$rate"; mkdir -p "$d"
  for g in "--tp 2 --group tp:tp-groups" "--tp 2 --group dp:dp-groups" ":world"; do
    args="${g%%:*}"; name="${g##*:}"
    # shellcheck disable=SC2086
    "$tpbench" --hosts "$hosts" comm --op all_reduce -b 1M -e 32M -f 2 -n 10 -w 3 -c 0 $args \
      --json "$d/comm-$name.json" > "$d/comm-$name.txt" 2>&1
  done
  for tp in 1 2 4; do
    allow=(); [[ $tp == 4 ]] && allow=(--allow-tp-across-hosts)
    "$tpbench" --hosts "$hosts" "${allow[@]}" train --tp "$tp" --iters 10 --warmup-iters 2 --log-every 100 \
      --no-plots --out "$d/runs" --run-name "tp$tp" --json "$d/train-tp$tp.json" > "$d/train-tp$tp.txt" 2>&1
  done
  bash "$cluster" down
  echo "done: $rate -> $d"
done
