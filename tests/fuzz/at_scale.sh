#!/usr/bin/env bash
# Fuzzing at scale: the front-end fuzzer and the data-reader fuzzer for a
# chosen time each, then the
# code-generation differential fuzzer (random graphs, each one training step
# compiled and run against the f64 interpreter) over a chosen range of seeds.
#
#   tests/fuzz/at_scale.sh BUILD_DIR [SECONDS] [GRAPHS] [FIRST]
#
# SECONDS  front-end and data fuzzing time, each (default 600; 0 replays their
#          seeds only), through tests/fuzz/run_fuzz.sh (builds and corpora under
#          BUILD_DIR/fuzz and BUILD_DIR/fuzz-data)
# GRAPHS   random graphs for the code-generation fuzzer (default 10000)
# FIRST    the first graph seed (default 41: the suite runs seeds 1-40)
#
# BUILD_DIR must hold a built tests/unit/vaec_unit_tests (scripts/build.sh).
# The graphs run in shards of SHARD (default 250) seeds, VAEC_FUZZ_JOBS
# (default nproc) at a time; a shard that crashes is re-run seed by seed to
# name the seed. Every failure is printed with the command that replays it;
# the summary goes to BUILD_DIR/fuzz/at_scale.txt too. Exit status 1 when
# anything failed.
set -uo pipefail

main() {
  if [[ $# -lt 1 || $# -gt 4 ]]; then
    echo "usage: $0 BUILD_DIR [SECONDS] [GRAPHS] [FIRST]" >&2
    return 2
  fi
  local here build seconds=${2:-600} graphs=${3:-10000} first=${4:-41}
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  build=$(cd "$1" && pwd) || return 2
  local n
  for n in "$seconds" "$graphs" "$first"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "at_scale.sh: SECONDS, GRAPHS and FIRST must be whole numbers, got '$n'" >&2; return 2; }
  done
  local tests=$build/tests/unit/vaec_unit_tests
  [[ -x $tests ]] || { echo "at_scale.sh: no $tests (build first: scripts/build.sh)" >&2; return 2; }
  local out=$build/fuzz/codegen shard=${SHARD:-250} jobs=${VAEC_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
  rm -rf "$out" && mkdir -p "$out"
  local status=0 front="clean" readers="clean" started=$SECONDS

  if ! "$here/run_fuzz.sh" "$build" "$seconds"; then
    front="FAILED (see $build/fuzz/fuzz.log and $build/fuzz/artifacts/)"
    status=1
  fi
  if ! "$here/run_fuzz.sh" "$build" "$seconds" data; then
    readers="FAILED (see $build/fuzz-data/fuzz.log and $build/fuzz-data/artifacts/)"
    status=1
  fi

  # One shard: seeds [from, from + count); its log names each failing seed.
  run_shard() {
    VAEC_FUZZ_FIRST=$1 VAEC_FUZZ_GRAPHS=$2 "$tests" --gtest_filter='CodegenFuzz.*' --gtest_brief=1 \
      >"$out/shard_$1.log" 2>&1
    echo $? >"$out/shard_$1.status"
  }
  local from=$first end=$((first + graphs)) running=0
  while ((from < end)); do
    local count=$((end - from < shard ? end - from : shard))
    run_shard "$from" "$count" &
    from=$((from + count))
    if ((++running >= jobs)); then wait -n; running=$((running - 1)); fi
  done
  wait

  local failed=() problems=() f s seeds
  for f in "$out"/shard_*.status; do
    s=${f##*/shard_}; s=${s%.status}
    [[ $(cat "$f") == 0 ]] && continue
    seeds=$(sed -n 's/^seed \([0-9][0-9]*\)$/\1/p' "$out/shard_$s.log")
    if [[ -z $seeds || $(cat "$f") -ge 128 ]]; then  # a crash: which seeds?
      local k count=$((s + shard > end ? end - s : shard))
      seeds=
      for ((k = s; k < s + count; ++k)); do
        VAEC_FUZZ_FIRST=$k VAEC_FUZZ_GRAPHS=1 "$tests" --gtest_filter='CodegenFuzz.*' >"$out/seed_$k.log" 2>&1 ||
          seeds+=" $k"
      done
      [[ -z $seeds ]] && problems+=("shard $s failed, but no seed alone does: $out/shard_$s.log")
    fi
    # shellcheck disable=SC2206
    failed+=($seeds)
  done

  {
    echo "front end: ${seconds} s of libFuzzer: $front"
    echo "data readers: ${seconds} s of libFuzzer: $readers"
    echo "code generation: $graphs graphs, seeds $first-$((end - 1)): ${#failed[@]} failed ($((SECONDS - started)) s in all)"
    for s in "${failed[@]}"; do
      echo "  new failure: seed $s; replay: VAEC_FUZZ_FIRST=$s VAEC_FUZZ_GRAPHS=1 VAEC_FUZZ_VERBOSE=1 $tests --gtest_filter='CodegenFuzz.*'"
    done
    for s in "${problems[@]}"; do echo "  $s"; done
  } | tee "$build/fuzz/at_scale.txt"
  ((${#failed[@]} + ${#problems[@]} == 0)) || status=1
  return $status
}

main "$@"
