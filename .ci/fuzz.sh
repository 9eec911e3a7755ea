#!/usr/bin/env bash
# Runs every cargo-fuzz target of crates/*/fuzz for a bounded time each and reports, per target, how many
# inputs libFuzzer ran. Exits non-zero when a target crashes (libFuzzer leaves the input under
# crates/CRATE/fuzz/artifacts/TARGET/).
#
#   .ci/fuzz.sh [SECONDS_PER_TARGET]     (default 20)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It builds with the toolchain in use and
# RUSTC_BOOTSTRAP=1: cargo-fuzz passes flags only a nightly compiler accepts, and with `-s none` (no
# sanitizer) the stable compiler builds the targets as nightly would, so no second toolchain is needed.
# When cargo-fuzz is missing the script says so and exits 0, unless
# TSDB_FUZZ=require (then 1), as CI sets.
set -uo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
case "$secs" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac

missing() {
  echo "fuzz: skipped: $1" >&2
  if [ "${TSDB_FUZZ:-}" = require ]; then
    echo "fuzz: TSDB_FUZZ=require: failing" >&2
    exit 1
  fi
  exit 0
}
export RUSTC_BOOTSTRAP=1
version=$(cargo fuzz --version 2>&1) || missing "\`cargo fuzz\` does not run: $version"
echo "fuzz: $version ($(rustc --version)), $secs s per target"

failed=0
summary=()
for manifest in crates/*/fuzz/Cargo.toml; do
  fuzz_dir=$(dirname "$manifest")
  crate_dir=$(dirname "$fuzz_dir")
  for target_file in "$fuzz_dir"/fuzz_targets/*.rs; do
    target=$(basename "$target_file" .rs)
    log=$(mktemp)
    echo "== $crate_dir $target"
    # -s none: no sanitizer (faster, and no ASan runtime needed); crashes are still panics and aborts.
    ( cd "$crate_dir" && cargo fuzz run -s none "$target" -- \
        -max_total_time="$secs" -print_final_stats=1 ) >"$log" 2>&1
    rc=$?
    # libFuzzer's last word: "Done N runs in S second(s)", else its last "#N ..." stats line.
    runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 | grep -Eo '[0-9]+')
    if [ -z "$runs" ]; then
      runs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    if [ "$rc" -ne 0 ]; then
      failed=1
      echo "fuzz: $crate_dir $target FAILED (exit $rc); the end of its output:" >&2
      tail -40 "$log" >&2
      summary+=("$crate_dir/$target: FAILED after ${runs:-?} runs")
    else
      summary+=("$crate_dir/$target: ${runs:-?} runs in $secs s, no crash")
    fi
    rm -f "$log"
  done
done

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
