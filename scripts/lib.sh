# Shared by the scripts: install Debian/Ubuntu packages that are missing.
# Sourced, not run.

# What every build needs (a C compiler for rustls' crypto, aws-lc; the system's
# trust roots for lists and guides imported from https URLs).
BASE_PACKAGES=(ca-certificates pkg-config build-essential)
# What the tray app (src-tauri/) links against: WebKitGTK, GTK, the tray library.
DESKTOP_PACKAGES=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev xdg-utils desktop-file-utils)
# What the tests run: real players' decoders, a browser for the web UI, and a
# headless X server with its own session bus for the tray app (and `kill`,
# from procps, which minimal images lack, to send it SIGTERM; zbarimg and
# rsvg-convert to scan the LAN QR code).
TEST_PACKAGES=(ffmpeg chromium chromium-driver xvfb dbus xclip xdotool procps hdhomerun-config xmltv-util zbar-tools librsvg2-bin)
# What scripts/test-windows needs: Debian's Rust with the standard library's
# sources (to build std for Windows and macOS), its clippy, the MinGW linker
# and Wine to run the Windows binary.
CROSS_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-clippy binutils-mingw-w64-x86-64 gcc-mingw-w64-x86-64 wine64)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ensure_packages PKG...: apt-get installs the packages not installed yet.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_rust() {
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
  fi
}
