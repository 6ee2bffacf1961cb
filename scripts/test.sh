#!/usr/bin/env bash
# Every test on a fresh Debian 12 machine: install what is missing, fetch
# MNIST, build vaec, run the whole suite (unit, lit/FileCheck, errors, fuzz).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
scripts/build.sh
ctest --test-dir "${VAEC_BUILD_DIR:-$root/build}" --output-on-failure -j "$(nproc)"
