#!/usr/bin/env bash
# Memory under sustained load with the collector down: a traced hello-world server (tracecore's
# ServerLayer, batch processor with the default 2048-span queue, OTLP exporter pointed at a port
# where nothing listens) driven by wrk for a while; prints the server's resident memory, the spans
# dropped and the export attempts over time. The queue is bounded, so memory must stay flat.
#
#   benches/soak.sh                       # 60 s, 32 connections
#   DURATION=300 CONNECTIONS=64 benches/soak.sh
#
#   PHASES=60 benches/soak.sh             # the phased soak instead: a collector of its own that
#                                         # accepts, answers 503, hangs, resets, answers slowly,
#                                         # refuses and accepts again, 60 s each; prints the table.
#                                         # The collector runs in a process pinned to the last
#                                         # CPU, the service and its load to the others.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${PHASES:-}" ]; then
  cargo build --quiet --release --bin soak
  last=$(($(nproc) - 1))
  if [ "$last" -gt 0 ] && command -v taskset >/dev/null; then
    exec taskset -c "0-$((last - 1))" target/release/soak phases "$PHASES" "$last"
  fi
  exec target/release/soak phases "$PHASES"
fi
DURATION=${DURATION:-60}
CONNECTIONS=${CONNECTIONS:-32}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
cargo build --quiet --release --bin soak

# A port with nothing listening on it: bind, note, release.
down=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true' EXIT

target/release/soak "http://127.0.0.1:$down/v1/traces" >"$work/server" &
pid=$!
addr=""
for _ in $(seq 100); do
  addr=$(sed -n 's/^listening on //p' "$work/server")
  [ -n "$addr" ] && break
  sleep 0.05
done
[ -n "$addr" ] || { echo "soak did not start" >&2; exit 1; }

wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://$addr/items/42" >"$work/wrk"
kill -TERM "$pid"
wait "$pid" || true
pid=""

echo "collector down (port $down), wrk -c$CONNECTIONS for ${DURATION} s: $(awk '/^Requests\/sec:/ {print $2}' "$work/wrk") req/s"
echo
echo "| second | resident memory | spans dropped | export requests |"
echo "|---:|---:|---:|---:|"
step=$(( DURATION / 12 > 0 ? DURATION / 12 : 1 ))
grep '^rss_kib=' "$work/server" | awk -v step="$step" -F'[ =]' '
  (NR == 1 || NR % step == 0) { printf "| %d | %.1f MiB | %d | %d |\n", NR, $2 / 1024, $6, $8 }'
