# Sourced by dev/test.sh and dev/serve.sh: installs what building and
# testing Tributary needs on Debian, once; later runs find it all in place.

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_packages=()
command -v cc >/dev/null 2>&1 || apt_packages+=(build-essential)
command -v curl >/dev/null 2>&1 || apt_packages+=(curl ca-certificates)
command -v psql >/dev/null 2>&1 || apt_packages+=(postgresql-client)
command -v git >/dev/null 2>&1 || apt_packages+=(git)
# The PostgreSQL and MySQL drivers use OpenSSL for TLS.
dpkg -s libssl-dev >/dev/null 2>&1 || apt_packages+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || apt_packages+=(pkg-config)
# The end-to-end tests send SIGTERM with kill(1) and drive a terminal with script(1).
[ -x /bin/kill ] || [ -x /usr/bin/kill ] || apt_packages+=(procps)
command -v script >/dev/null 2>&1 || apt_packages+=(bsdutils)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  step "apt-get install ${apt_packages[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  step "install the Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
  export PATH="$HOME/.cargo/bin:$PATH"
fi
