#!/usr/bin/env bash
# Every test on a fresh Debian 12 machine: install what is missing, fetch
# MNIST, build vaec, run the whole suite (unit, lit/FileCheck, errors, fuzz),
# then build vaec again under AddressSanitizer and UndefinedBehaviorSanitizer
# in build-asan and run the runtime's tests there: a reduced set, or with
# VAEC_SANITIZE_ALL_TESTS=1 every unit and lit test (docs/TESTING.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
VAEC_SANITIZE=0 scripts/build.sh
ctest --test-dir "${VAEC_BUILD_DIR:-$root/build}" --output-on-failure -j "$(nproc)"
asan="${VAEC_ASAN_BUILD_DIR:-$root/build-asan}"
VAEC_SANITIZE=1 VAEC_BUILD_DIR="$asan" scripts/build.sh
ctest --test-dir "$asan" --output-on-failure -j "$(nproc)"
