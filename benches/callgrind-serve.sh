#!/usr/bin/env bash
# Instructions per request of a server stack over real sockets: `serve STACK` under callgrind,
# its counters zeroed after a warm-up, then wrk with a `traceparent` for a fixed time; every
# thread's instructions divided by the requests served.
#
#   benches/callgrind-serve.sh tracecore          # 8 s of wrk -c4
#   SECONDS_RUN=20 benches/callgrind-serve.sh bare tracecore tower_http_trace
#
# Installs valgrind and wrk (Debian packages) when they are missing.
set -euo pipefail
cd "$(dirname "$0")"
[ $# -ge 1 ] || { echo "usage: $0 STACK..." >&2; exit 2; }
SECONDS_RUN=${SECONDS_RUN:-8}
TRACEPARENT="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

for tool in valgrind wrk; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool (Debian package)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "$tool" >/dev/null
  fi
done
cargo build --quiet --release --bin serve
serve=$PWD/target/release/serve

work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

for stack in "$@"; do
  dir="$work/$stack"
  mkdir -p "$dir"
  (cd "$dir" && exec valgrind --tool=callgrind --dump-instr=no "$serve" "$stack" 127.0.0.1:0 \
    >serve.out 2>valgrind.err) &
  pid=$!
  addr=""
  for _ in $(seq 300); do
    addr=$(sed -n 's/^listening on //p' "$dir/serve.out" 2>/dev/null)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "serve $stack did not start" >&2; cat "$dir/valgrind.err" >&2; exit 1; }
  url="http://$addr/items/42"
  wrk -t1 -c4 -d3s -H "traceparent: $TRACEPARENT" "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  wrk -t1 -c4 -d"${SECONDS_RUN}s" -H "traceparent: $TRACEPARENT" "$url" >"$dir/wrk.out"
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  requests=$(awk '/requests in/ {print $1}' "$dir/wrk.out")
  # The dump after zeroing: callgrind.out.PID.1 (one file for all threads).
  total=$(cat "$dir"/callgrind.out.*.1 | awk '/^summary:/ {s += $2} END {print s}')
  printf '%-28s %8s requests  %8d instructions per request (all threads)\n' \
    "$stack" "$requests" "$((total / requests))"
done
