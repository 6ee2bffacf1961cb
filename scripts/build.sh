#!/usr/bin/env bash
# Configures (once) and builds vaec in build/ with CMake + Ninja.
# VAEC_SANITIZE=1 (with VAEC_BUILD_DIR, e.g. build-asan) configures the
# AddressSanitizer + UndefinedBehaviorSanitizer build instead and builds what
# its tests run: vaec (with its trainer archive) and the unit tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${VAEC_BUILD_DIR:-$root/build}"
sanitize=OFF
targets=()
if [[ ${VAEC_SANITIZE:-0} == 1 ]]; then
  sanitize=ON
  targets=(--target vaec vaec_unit_tests)
fi
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${VAEC_BUILD_TYPE:-RelWithDebInfo}" \
        -DVAEC_SANITIZE="$sanitize" >/dev/null
fi
cmake --build "$build" -j "$(nproc)" "${targets[@]}"
