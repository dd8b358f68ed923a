#!/usr/bin/env bash
# The C ABI benchmark: one read (query.record) and one write (a work note) per call, on an
# in-memory engine, made directly in Rust on the Engine, through the JSON-RPC dispatcher in
# Rust, through the C ABI from Rust, from C, and from Python; prints one table of ns/call and
# ratios to the direct Rust call. Release builds. Usage: crates/ffi/bench/run.sh [N]
# (N calls per round, default 10000; best of 5 rounds; the harnesses run in turn
# OPSLEDGER_BENCH_REPEATS times, default 3, and each path's best figure is kept).
set -euo pipefail
cd "$(dirname "$0")/../../.."
n="${1:-10000}"

cargo build --release -p opsledger-ffi --locked >&2
target_dir="$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cc -std=c11 -O2 -Wall -Wextra -Werror -Icrates/ffi/include crates/ffi/bench/bench.c \
  "$target_dir/release/libopsledger_ffi.a" -lpthread -ldl -lm -o "$work/bench_c"
cargo bench -p opsledger-ffi --bench abi --locked --no-run >&2

# The machine may be shared: the three harnesses run in turn, `repeats` times (default 3), and
# the table keeps each path's best figure.
for _ in $(seq "${OPSLEDGER_BENCH_REPEATS:-3}"); do
  OPSLEDGER_BENCH_N="$n" cargo bench -p opsledger-ffi --bench abi --locked 2>/dev/null \
    | grep -P '\t' >> "$work/results"
  "$work/bench_c" "$n" >> "$work/results"
  OPSLEDGER_LIB="$target_dir/release/libopsledger_ffi.so" \
    PYTHONPATH="crates/ffi/python/src${PYTHONPATH:+:$PYTHONPATH}" \
    python3 crates/ffi/bench/bench.py "$n" >> "$work/results"
done

python3 - "$work/results" "$n" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if "\t" in line]
ns = {}
for name, v in rows:
    ns[name] = min(float(v), ns.get(name, float("inf")))
print(f"C ABI benchmark: in-memory engine, release build, best of 5 rounds of {sys.argv[2]} calls, best of the repeats")
print()
print("| path | read: query.record (ns/call) | vs Rust | write: work note (ns/call) | vs Rust |")
print("|---|---:|---:|---:|---:|")
for path in ["rust-engine", "rust-dispatcher", "rust-abi", "c-abi", "python-raw", "python-call"]:
    r, w = ns[f"{path} read"], ns[f"{path} write"]
    print(f"| {path} | {r:,.0f} | {r / ns['rust-engine read']:.2f}x | {w:,.0f} | {w / ns['rust-engine write']:.2f}x |")
PY
