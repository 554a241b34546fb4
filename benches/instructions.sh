#!/usr/bin/env bash
# Instructions per operation under callgrind, the figures that do not move with a noisy machine:
# each operation of `ops` run N times under `valgrind --tool=callgrind --separate-threads=yes`,
# the same loop with nothing in it (`ops none N`) subtracted, and fastrace's start-up clock
# calibration (a spin whose length depends on the wall clock) taken out. Prints the calling
# thread's instructions per operation, the other threads' (the span export thread, fastrace's
# collector, opentelemetry_sdk's processor), and for the server stacks what each adds over bare.
#
#   benches/instructions.sh                      # the default set (about 6 minutes on 2 cores)
#   benches/instructions.sh span span-fastrace-local server:tower_http_trace
#
# After the figures, the budgets (benches/README.md says where each comes from): each row's
# figure against its limit, an absolute count or a multiple of an anchor's figure from the same
# run, with met or missed. A budget whose operations were not run is left out.
#
# Compare figures from one build only: code that did not change can move by a few per cent
# between builds (the compiler partitions generic code differently). Installs valgrind (Debian
# package) when it is missing.
set -euo pipefail
cd "$(dirname "$0")"

DEFAULT_OPS=(parse tracestate tracestate-long extract extract-scanned extract-ot inject
  span span-unsampled span-otel span-fastrace span-fastrace-local
  metric-http metric-histogram metric-otel log-tracecore log-otel
  bridge-bare_registry bridge-tracecore bridge-tracing_opentelemetry
  bridge-event-bare_registry bridge-event-tracecore bridge-event-tracing_opentelemetry
  server-bare server:empty_layer server-propagation server server-metrics server-tail-dropped
  server:tracecore_sampled_out
  server:tower_http_trace server:otel_axum_layer server:fastrace_axum)
if [ $# -gt 0 ]; then ops=("$@"); else ops=("${DEFAULT_OPS[@]}"); fi

if ! command -v valgrind >/dev/null; then
  echo "installing valgrind (Debian package)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq valgrind >/dev/null
fi
cargo build --quiet --release --bin ops
bin=$PWD/target/release/ops

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# How many times an operation runs: enough to bury start-up, few enough for valgrind.
repeats() {
  case $1 in
    server*) echo 20000 ;;
    metric-* | bridge-* | log-* | tracestate-long) echo 100000 ;;
    otlp-*) echo 200 ;;
    *) echo 200000 ;;
  esac
}

# "calling other" instructions of one run: the main thread's file (-01) less fastrace's
# calibration, and every other thread's summed.
run() {
  local op=$1 n=$2 dir
  dir="$work/$(echo "$op-$n" | tr ':/' '__')"
  mkdir -p "$dir"
  (cd "$dir" && valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg.out" \
    "$bin" "$op" "$n" >/dev/null 2>"$dir/valgrind.err") ||
    { echo "ops $op $n failed:" >&2; grep -v '^==' "$dir/valgrind.err" | tail -5 >&2; exit 1; }
  local main other=0 ctor f
  main=$(awk '/^summary:/ {print $2}' "$dir/cg.out-01")
  ctor=$(callgrind_annotate --inclusive=yes --auto=no "$dir/cg.out-01" 2>/dev/null |
    awk '/___init___ctor::___init___ctor/ {gsub(",", "", $1); print $1; exit}')
  main=$((main - ${ctor:-0}))
  for f in "$dir"/cg.out-*; do
    [ "$f" = "$dir/cg.out-01" ] && continue
    other=$((other + $(awk '/^summary:/ {print $2}' "$f")))
  done
  echo "$main $other"
}

declare -A empty CALLING BOTH ADDED
echo "| operation | runs | calling thread | other threads | both | added over server-bare (both) |"
echo "|---|---:|---:|---:|---:|---:|"
bare=""
for op in "${ops[@]}"; do
  n=$(repeats "$op")
  # Each run is assigned before it is read, so a failed one stops the script.
  if [ -z "${empty[$n]:-}" ]; then
    empty[$n]=$(run none "$n")
  fi
  counts=$(run "$op" "$n")
  read -r base_main base_other <<<"${empty[$n]}"
  read -r main other <<<"$counts"
  calling=$(((main - base_main) / n))
  others=$(((other - base_other) / n))
  both=$((calling + others))
  added="–"
  if [ "$op" = server-bare ]; then
    bare=$both
  elif [[ $op == server* ]] && [ -n "$bare" ]; then
    added=$(printf '%+d' $((both - bare)))
  fi
  echo "| $op | $n | $calling | $others | $both | $added |"
  CALLING[$op]=$calling
  BOTH[$op]=$both
  [ "$added" != "–" ] && ADDED[$op]=${added#+}
done

# figure OP COLUMN: calling, both, added (over server-bare) or over:BASE (both, less BASE's both).
figure() {
  case $2 in
    calling) echo "${CALLING[$1]:-}" ;;
    both) echo "${BOTH[$1]:-}" ;;
    added) echo "${ADDED[$1]:-}" ;;
    over:*)
      local base=${2#over:}
      if [ -n "${BOTH[$1]:-}" ] && [ -n "${BOTH[$base]:-}" ]; then
        echo $((BOTH[$1] - BOTH[$base]))
      fi
      ;;
  esac
}

# OP COLUMN LIMIT [ANCHOR ANCHOR_COLUMN]: the figure must be at most LIMIT, or LIMIT times the
# anchor's figure.
BUDGETS=(
  "span calling 1.5 span-fastrace-local calling"
  "span both 1.0 span-fastrace-local both"
  "span-unsampled calling 250"
  "extract-scanned calling 1000"
  "inject calling 1000"
  "metric-http calling 400"
  "server-propagation added 0.5 server:tower_http_trace added"
  "server-metrics added 1.0 server:tower_http_trace added"
  "server-tail-dropped added 1.0 server added"
  "log-tracecore both 0.5 log-otel both"
  "bridge-tracecore over:bridge-bare_registry 0.2 bridge-tracing_opentelemetry over:bridge-bare_registry"
  "bridge-event-tracecore over:bridge-tracecore 0.33 bridge-event-tracing_opentelemetry over:bridge-tracing_opentelemetry"
)
echo
echo "| budget | figure | limit | ratio to the anchor | |"
echo "|---|---:|---:|---:|---|"
for b in "${BUDGETS[@]}"; do
  read -r op col limit anchor acol <<<"$b"
  value=$(figure "$op" "$col")
  [ -n "$value" ] || continue
  if [ -n "${anchor:-}" ]; then
    ref=$(figure "$anchor" "$acol")
    [ -n "$ref" ] || continue
    bound=$(awk -v l="$limit" -v r="$ref" 'BEGIN { printf "%d", l * r }')
    ratio=$(awk -v v="$value" -v r="$ref" 'BEGIN { if (r != 0) printf "%.2f×", v / r; else print "–" }')
    what="$op $col ≤ ${limit}× $anchor $acol"
  else
    bound=$limit
    ratio="–"
    what="$op $col ≤ $limit"
  fi
  verdict=$(awk -v v="$value" -v b="$bound" 'BEGIN { print (v <= b ? "met" : "missed") }')
  echo "| $what | $value | $bound | $ratio | $verdict |"
done
# Reported beside the budgets: the server layer against the floor of a tracing layer.
for op in server-propagation server server-metrics; do
  value=$(figure "$op" added)
  floor=$(figure server:fastrace_axum added)
  if [ -n "$value" ] && [ -n "$floor" ]; then
    ratio=$(awk -v v="$value" -v r="$floor" 'BEGIN { if (r != 0) printf "%.2f×", v / r; else print "–" }')
    echo "| $op added, against server:fastrace_axum added (report) | $value | $floor | $ratio | – |"
  fi
done
