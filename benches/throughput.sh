#!/usr/bin/env bash
# Loopback throughput: a hello-world axum server bare, with tracecore's ServerLayer
# (`tracecore_otlp`: spans exported over OTLP/HTTP protobuf to a real collector, rotel, running
# on the same machine), and with the OtelAxumLayer stack (`otel_axum_otlp`: tracing-opentelemetry
# into opentelemetry_sdk 0.33, spans exported by opentelemetry-otlp 0.33 over OTLP/HTTP protobuf
# to the same rotel), each driven in turn by wrk with a fixed connection count for a fixed time,
# in rounds that alternate the order. Prints requests/s and p99 latency per stack (the median of
# the rounds), the loss against bare, the CPU time per request of the server process (and of its
# span export thread) and of the collector, read from /proc, and for each exporting stack the
# spans it made (one per request), the spans the collector accepted and those dropped: a stack
# cannot look faster by exporting less.
#
#   benches/throughput.sh                 # 3 rounds of 10 s per stack, 32 connections
#   ROUNDS=5 DURATION=20s CONNECTIONS=64 benches/throughput.sh
#   STACKS="bare tracecore otel_axum_layer" benches/throughput.sh   # no-op exporters instead
#   DOWN=1 benches/throughput.sh          # the collector unreachable (a closed port)
#
# With two or more cores the server (one worker thread, plus the span export thread) runs on
# CPU 0 and wrk on CPU 1, so they do not steal each other's time; the collector is not pinned
# unless COLLECTOR_CPU names a CPU (COLLECTOR_CPU=1 puts it beside wrk, so the server's core
# does only the server's work, as with a collector on another machine).
# Installs wrk (Debian package) when it is missing, and rotel (`pip install rotel` into a
# virtualenv under target/) unless ROTEL_AGENT names a rotel-agent binary.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
read -r -a STACKS <<<"${STACKS:-bare tracecore_otlp otel_axum_otlp}"
ROTEL_VERSION=0.0.1a15
TRACEPARENT="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

cargo build --quiet --release --bin serve

if [ -z "${ROTEL_AGENT:-}" ]; then
  venv=target/rotel-$ROTEL_VERSION
  ROTEL_AGENT=$(ls "$venv"/lib/python*/site-packages/rotel/rotel-agent 2>/dev/null | head -1 || true)
  if [ -z "$ROTEL_AGENT" ]; then
    echo "installing rotel $ROTEL_VERSION into $venv (pip)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "rotel==$ROTEL_VERSION"
    ROTEL_AGENT=$(ls "$venv"/lib/python*/site-packages/rotel/rotel-agent | head -1)
  fi
fi

server_cpu=() wrk_cpu=() collector_cpu=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 0) wrk_cpu=(taskset -c 1)
fi
if [ -n "${COLLECTOR_CPU:-}" ]; then
  command -v taskset >/dev/null || { echo "COLLECTOR_CPU needs taskset" >&2; exit 1; }
  [ "$COLLECTOR_CPU" -lt "$(nproc)" ] 2>/dev/null || { echo "COLLECTOR_CPU=$COLLECTOR_CPU: not a CPU of this machine (0..$(($(nproc) - 1)))" >&2; exit 1; }
  collector_cpu=(taskset -c "$COLLECTOR_CPU")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -n "${rotel_pid:-}" ] && kill "$rotel_pid" 2>/dev/null || true' EXIT

# The collector: OTLP/HTTP in, everything accepted and discarded (rotel's blackhole exporter).
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
collector="127.0.0.1:$(free_port)"
"${collector_cpu[@]}" "$ROTEL_AGENT" start --otlp-http-endpoint "$collector" --otlp-grpc-endpoint "127.0.0.1:$(free_port)" \
  --exporter blackhole --pid-file "$work/rotel.pid" --log-file "$work/rotel.log" >/dev/null 2>&1 &
rotel_pid=$!
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/${collector%:*}/${collector#*:}") 2>/dev/null && break
  sleep 0.05
done
(exec 3<>"/dev/tcp/${collector%:*}/${collector#*:}") 2>/dev/null || { echo "rotel did not listen on $collector" >&2; cat "$work/rotel.log" >&2; exit 1; }
if [ -n "${DOWN:-}" ]; then
  # Nothing listens there: every export fails at connect.
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(free_port)" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
else
  export OTEL_EXPORTER_OTLP_ENDPOINT="http://$collector" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
fi

# CPU time a process has used so far (all its threads), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The same for the process's span export thread (tracecore-export, or opentelemetry_sdk's
# OpenTelemetry.Traces.BatchProcessor; 15 characters shown).
export_ticks() {
  local t sum=0 comm
  for t in /proc/"$1"/task/*; do
    comm=$(cat "$t/comm" 2>/dev/null || true)
    case $comm in
      tracecore-expor | OpenTelemetry.T) sum=$((sum + $(awk '{print $14 + $15}' "$t/stat"))) ;;
    esac
  done
  echo "$sum"
}
TICKS=$(getconf CLK_TCK)

# run STACK ROUND: one wrk run against a fresh server; appends
# "STACK REQ_PER_S P99_US DROPPED SERVER_CPU_US_PER_REQ EXPORT_CPU_US_PER_REQ COLLECTOR_CPU_US_PER_REQ
# SPANS EXPORTED" (SPANS: the requests the server answered, warm-up included, one span each;
# EXPORTED: the spans in exports the collector accepted, after the server's shutdown flushed).
run() {
  local stack=$1 out="$work/$1.$2"
  "${server_cpu[@]}" target/release/serve "$stack" 127.0.0.1:0 >"$out.server" &
  pid=$!
  local addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$out.server")
    [ -n "$addr" ] && break
    sleep 0.05
  done
  [ -n "$addr" ] || { echo "serve $stack did not start" >&2; exit 1; }
  local url="http://$addr/items/42"
  # Warm up (connections, allocator, branch predictors), then measure.
  "${wrk_cpu[@]}" wrk -t1 -c"$CONNECTIONS" -d2s -H "traceparent: $TRACEPARENT" "$url" >/dev/null
  local server0 export0 rotel0 server1 export1 rotel1
  server0=$(cpu_ticks "$pid") export0=$(export_ticks "$pid") rotel0=$(cpu_ticks "$rotel_pid")
  "${wrk_cpu[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -H "traceparent: $TRACEPARENT" "$url" >"$out.wrk"
  server1=$(cpu_ticks "$pid") export1=$(export_ticks "$pid") rotel1=$(cpu_ticks "$rotel_pid")
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
  local rps p99 dropped requests server_us export_us rotel_us
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out.wrk")
  requests=$(awk '/requests in/ {print $1}' "$out.wrk")
  server_us=$(awk -v t=$((server1 - server0)) -v n="$requests" -v hz="$TICKS" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  export_us=$(awk -v t=$((export1 - export0)) -v n="$requests" -v hz="$TICKS" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  rotel_us=$(awk -v t=$((rotel1 - rotel0)) -v n="$requests" -v hz="$TICKS" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  p99=$(awk '$1 == "99%" {
      v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
      if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000;
      print v }' "$out.wrk")
  dropped=$(sed -n 's/^dropped //p' "$out.server")
  local spans exported
  spans=$(sed -n 's/^requests //p' "$out.server")
  exported=$(sed -n 's/^exported //p' "$out.server")
  echo "$stack $rps $p99 ${dropped:-?} $server_us $export_us $rotel_us ${spans:-?} ${exported:--}" >>"$work/results"
  printf '  round %s  %-16s %10.0f req/s  p99 %8.0f µs  cpu/req: server %5.2f µs (export %4.2f), collector %5.2f µs\n' \
    "$2" "$stack" "$rps" "$p99" "$server_us" "$export_us" "$rotel_us" >&2
}

echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $ROUNDS rounds; collector on ${COLLECTOR_CPU:+CPU }${COLLECTOR_CPU:-any CPU}; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
for round in $(seq "$ROUNDS"); do
  # Rotate the order each round, so no stack always runs first or last.
  for i in "${!STACKS[@]}"; do
    run "${STACKS[$(( (i + round - 1) % ${#STACKS[@]} ))]}" "$round"
  done
done

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
bare=$(awk '$1 == "bare" {print $2}' "$work/results" | median)
echo
echo "| stack | requests/s (median of $ROUNDS) | p99 latency | throughput vs bare | server CPU per request | of which span export thread | collector CPU per request | spans made / accepted by the collector / dropped (each round) |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for stack in "${STACKS[@]}"; do
  rps=$(awk -v s="$stack" '$1 == s {print $2}' "$work/results" | median)
  p99=$(awk -v s="$stack" '$1 == s {print $3}' "$work/results" | median)
  # Per round: made / accepted / dropped. tracecore counts its drops; the anchor's SDK does
  # not, so its drops are what it made less what the collector accepted.
  dropped=$(awk -v s="$stack" '$1 == s {
      if ($9 == "-") { print "–"; next }
      d = (s ~ /^tracecore/) ? $4 : $8 - $9
      printf "%d / %d / %d\n", $8, $9, d }' "$work/results" | paste -sd';' | sed 's/;/; /g; s/^–\(; –\)*$/–/')
  cpu=$(awk -v s="$stack" '$1 == s {print $5}' "$work/results" | median)
  export=$(awk -v s="$stack" '$1 == s {print $6}' "$work/results" | median)
  collector=$(awk -v s="$stack" '$1 == s {print $7}' "$work/results" | median)
  awk -v s="$stack" -v r="$rps" -v p="$p99" -v b="$bare" -v d="$dropped" -v c="$cpu" -v e="$export" -v k="$collector" 'BEGIN {
    loss = (s == "bare") ? "–" : sprintf("%+.1f %%", (r / b - 1) * 100);
    printf "| %s | %.0f | %.0f µs | %s | %.2f µs | %.2f µs | %.2f µs | %s |\n", s, r, p, loss, c, e, k, d }'
done
