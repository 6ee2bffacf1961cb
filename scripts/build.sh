#!/usr/bin/env bash
# Configures (once) and builds vaec in build/ with CMake + Ninja.
# VAEC_SANITIZE=1 (with VAEC_BUILD_DIR, e.g. build-asan) configures the
# AddressSanitizer + UndefinedBehaviorSanitizer build instead and builds what
# its tests run: vaec (with its trainer archive) and the unit tests, the
# reduced set or, with VAEC_SANITIZE_ALL_TESTS=1, all of them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VAEC_BUILD_DIR:-$root/build}"
sanitize=OFF
all_tests=OFF
targets=()
if [[ ${VAEC_SANITIZE:-0} == 1 ]]; then
  sanitize=ON
  targets=(--target vaec vaec_unit_tests)
  if [[ ${VAEC_SANITIZE_ALL_TESTS:-0} == 1 ]]; then all_tests=ON; fi
fi
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${VAEC_BUILD_TYPE:-RelWithDebInfo}" \
        -DVAEC_SANITIZE="$sanitize" -DVAEC_SANITIZE_ALL_TESTS="$all_tests" >/dev/null
elif [[ $sanitize == ON ]] && ! grep -qx "VAEC_SANITIZE_ALL_TESTS:BOOL=$all_tests" "$build/CMakeCache.txt"; then
  cmake -B "$build" -DVAEC_SANITIZE_ALL_TESTS="$all_tests" >/dev/null  # the other test set
fi
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
