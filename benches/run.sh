#!/usr/bin/env bash
# Runs the benchmarks and prints the table: tracecore and the anchors, side by side.
set -euo pipefail
cd "$(dirname "$0")"
cargo bench --bench propagation --bench spans --bench http --bench otlp --bench grpc --bench metrics \
  --bench bridge --bench logs -- --noplot "$@"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), rustc $(rustc --version | cut -d' ' -f2)"
echo
cargo run --quiet --release --bin report
