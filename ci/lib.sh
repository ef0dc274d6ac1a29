# Shared by ci/test, ci/example and ci/bench (sourced, not run).
# Debian 12 / Ubuntu 22.04+: installs what is missing with apt-get (sudo when not root).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Packages the fixtures, the tests and the bench use.
#   build-essential: the C parts of the zstd, bzip2 and xz crates, and the linker
#   cmake: builds zlib-ng (flate2's fastest streaming inflate, libz-ng-sys)
#   busybox-static hello coreutils bash libselinux1 libpcre2-8-0 libtinfo6 patchelf:
#       the ELF files fixtures/build.sh relocates into fake /nix/store paths
#   nix-bin: the real Nix the nix/ tests use; bubblewrap hyperfine time: ci/bench
#   zstd xz-utils bzip2 zip file: archives of every format go-getter knows
#   python3: a real interpreter whose start-up probes the run must not report (run_fidelity)
#   postgresql-15 postgresql-client-15 python3 python3-uvicorn python3-psycopg2: the
#       Postgres and app bundles of the example project's production.hcl (job --run-job)
CI_PACKAGES=(
    build-essential cmake ca-certificates curl git pkg-config
    busybox-static hello coreutils bash libselinux1 libpcre2-8-0 libtinfo6 patchelf
    nix-bin bubblewrap hyperfine time
    zstd xz-utils bzip2 zip file util-linux libssl3 musl musl-tools
    postgresql-15 postgresql-client-15 python3 python3-uvicorn python3-psycopg2
)

log() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'ci: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        fail "need root or sudo for: $*"
    fi
}

# install_packages [PKG...]: apt-get install what is not installed yet (no apt-get
# update when everything is there, so a prepared machine needs no network).
install_packages() {
    local want=() missing=() p
    if (($#)); then want=("$@"); else want=("${CI_PACKAGES[@]}"); fi
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    command -v apt-get >/dev/null ||
        fail "not a Debian/Ubuntu machine: install ${missing[*]} yourself"
    log "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# ensure_rust: use the cargo on PATH or in ~/.cargo/bin; Debian's own rustc is too old
# for edition 2024 (Rust >= 1.85).
ensure_rust() {
    if ! command -v cargo >/dev/null && [[ -x $HOME/.cargo/bin/cargo ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null || fail "no Rust toolchain. Install one (Rust >= 1.85) with:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    . \"\$HOME/.cargo/env\"
and run this again."
    local v
    v=$(rustc --version | awk '{print $2}')
    if [[ $(printf '%s\n1.85.0\n' "$v" | sort -V | head -1) != 1.85.0 ]]; then
        fail "rustc $v is older than 1.85 (edition 2024): rustup update stable"
    fi
}

# ensure_test_user: an unprivileged account for the rootless sandbox tests.
ensure_test_user() {
    if ! id ncc-test >/dev/null 2>&1; then
        log "creating the unprivileged user ncc-test (rootless sandbox tests)"
        as_root useradd --system --no-create-home --shell /usr/sbin/nologin ncc-test
    fi
    export NCC_ROOTLESS_USER=ncc-test
}
