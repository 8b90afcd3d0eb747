#!/usr/bin/env bash
# Reproduces the gRPC figures of docs/benchmarks.md: PUT and GET of 64 MiB
# and 1 GiB objects, one stream and four, through the gRPC client API
# (signed requests) and through S3, on the same `meridian dev` (release,
# one copy: the API paths, not replication), in plain HTTP and with --tls
# (S3 and gRPC over TLS, trusting the CA the process made). Each case gets a
# fresh server and data directory under /var/tmp (1 GiB PUTs fill a disk
# fast otherwise). Prints
# one JSON line per run, with api, tls and the server's CPU time (in all
# and per GB moved) added. Arguments: [DURATION_S]
# (default 10). MATRIX="put 64MiB 1;get 1GiB 4" runs only those cases.
# SERVER_BIN=/path/to/meridian benchmarks that build of the server.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
. scripts/bench-common.sh
matrix=("put 64MiB 1" "put 64MiB 4" "put 1GiB 1" "put 1GiB 4" "get 64MiB 1" "get 64MiB 4" "get 1GiB 1" "get 1GiB 4")
pick_matrix
one_copy=$'[default]\ncopies = 1'

# User and system CPU ticks of the server process so far.
server_cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$pid/stat"
}

run_case() {
  local tls="$1" op="$2" size="$3" conc="$4"
  local scheme=http ca=()
  if [ "$tls" = on ]; then
    scheme=https
    ca=(--ca-cert "$data/d/tls/endpoints/ca.pem")
  fi
  for api in grpc s3; do
    local ep="$scheme://127.0.0.1:19000"
    [ "$api" = grpc ] && ep="$scheme://127.0.0.1:19050"
    local t0 t1
    t0=$(server_cpu_ticks)
    out=$("$bin/meridian-bench" "$api" --endpoint "$ep" "${ca[@]}" --op "$op" --size "$size" \
      --concurrency "$conc" --duration "$duration" --access-key "$ak" --secret-key "$sk" --json)
    t1=$(server_cpu_ticks)
    # The server's CPU per GB moved: what a server on cores of its own
    # would spend, which throughput on this shared machine cannot show.
    echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5])
gb = r["ops"] * r["size_bytes"] / 1e9
print(json.dumps({"api": sys.argv[1], "tls": sys.argv[2], **r, "server_cpu_s": round(cpu, 2),
                  "server_cpu_s_per_gb": round(cpu / gb, 3) if gb else None}))
' "$api" "$tls" "$t0" "$t1" "$(getconf CLK_TCK)"
  done
}

for tls in off on; do
  for spec in "${matrix[@]}"; do
    set -- $spec
    if [ "$tls" = on ]; then start_meridian "$one_copy" --tls; else start_meridian "$one_copy"; fi
    run_case "$tls" "$1" "$2" "$3"
    cleanup
  done
done
