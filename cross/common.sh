# Shared by cross/build, cross/test-cross, cross/test-user and cross/test-system (sourced,
# not run).
# shellcheck shell=bash

CROSS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${CROSS_ROOT:-$(dirname "$CROSS_DIR")}
# The output path target/TARGET/release/taskwire is part of the contract, so a developer's
# CARGO_TARGET_DIR is overridden unless CROSS_TARGET_DIR says otherwise.
export CARGO_TARGET_DIR=${CROSS_TARGET_DIR:-$ROOT/target}
ALL_TARGETS=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf)
# Big-endian boards (issue 17): built and tested on request (cross/build, cross/test-user
# with the target named), not by default. The glibc ones are linked static with +crt-static.
BIG_ENDIAN_TARGETS=(s390x-unknown-linux-gnu powerpc-unknown-linux-gnu s390x-unknown-linux-musl)

TC=()
[ -n "${TASKWIRE_TOOLCHAIN:-}" ] && TC=("+$TASKWIRE_TOOLCHAIN")
SYSROOT=$(rustc "${TC[@]}" --print sysroot)
# shellcheck disable=SC2034 # used by the scripts that source this file
RUST_VERSION=$(rustc "${TC[@]}" -V | awk '{ print $2 }')
# shellcheck disable=SC2034
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}

if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
    echo "cross: CARGO_ENCODED_RUSTFLAGS would replace the per-target link flags; unset it" >&2
    exit 2
fi
# RUSTFLAGS would replace [target.*].rustflags (the armv7 link flags) wholesale: it is
# folded into the per-target variable instead.
# shellcheck disable=SC2034 # used by the scripts that source this file
USER_RUSTFLAGS=${RUSTFLAGS:-}
unset RUSTFLAGS

is_known_target() {
    case " ${ALL_TARGETS[*]} ${BIG_ENDIAN_TARGETS[*]} " in *" $1 "*) return 0 ;; esac
    echo "cross: unsupported target $1 (want one of ${ALL_TARGETS[*]} ${BIG_ENDIAN_TARGETS[*]})" >&2
    return 1
}

# std_plan TARGET PREFERENCE -> prints "source" or "prebuilt"; fails when neither is there.
# PREFERENCE: auto-source (source when rust-src exists, else prebuilt), auto-prebuilt
# (the reverse), source, prebuilt.
std_plan() {
    local t=$1 mode=$2 have_src=0 have_pre=0
    [ -d "$SYSROOT/lib/rustlib/src/rust/library/std" ] && have_src=1
    [ -d "$SYSROOT/lib/rustlib/$t/lib" ] && have_pre=1
    case $mode in
        source) [ $have_src = 1 ] && { echo source; return 0; } ;;
        prebuilt) [ $have_pre = 1 ] && { echo prebuilt; return 0; } ;;
        auto-source)
            [ $have_src = 1 ] && { echo source; return 0; }
            [ $have_pre = 1 ] && { echo prebuilt; return 0; } ;;
        auto-prebuilt)
            [ $have_pre = 1 ] && { echo prebuilt; return 0; }
            [ $have_src = 1 ] && { echo source; return 0; } ;;
        *) echo "cross: std mode $mode: want auto, source or prebuilt" >&2; return 1 ;;
    esac
    echo "cross: $t: no usable std (mode $mode; rust-src=$have_src prebuilt=$have_pre):" \
        "run cross/setup" >&2
    return 1
}

# rustflags_var TARGET -> name of cargo's per-target rustflags variable.
rustflags_var() { echo "CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$1")_RUSTFLAGS"; }

# static_kind FILE -> "static" or "static-pie" when the ELF needs no loader and no shared
# library; otherwise prints why and fails.
static_kind() {
    local f=$1 ph dyn
    ph=$(readelf -lW "$f")
    dyn=$(readelf -dW "$f" 2>/dev/null || true)
    if grep -q INTERP <<<"$ph" || grep -q NEEDED <<<"$dyn"; then
        echo "cross: $f is not static:" >&2
        grep -E 'interpreter|NEEDED' <<<"$ph$dyn" >&2
        return 1
    fi
    if readelf -hW "$f" | grep -qE 'Type:[[:space:]]*DYN'; then echo static-pie; else echo static; fi
}

# budget_kib FEATURES TARGET -> the stripped size budget in KiB of a board build that has
# one (README, "Binary size"), else nothing. cross/build and cross/test-cross check it.
budget_kib() {
    case "$1:$2" in
        board:aarch64-*) echo 224 ;;
        board:armv7-*) echo 184 ;;
        stream:aarch64-*) echo 144 ;;
        stream,mqtt:aarch64-*) echo 144 ;;
        *) echo "" ;;
    esac
}

elapsed_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
