# scripts/lib/packages.sh — sourced by setup and bench. ensure_packages PKG... installs, with
# apt-get, those of PKG that are not installed; quiet when all are. GOM_SKIP_PACKAGES=1 skips it.
ensure_packages() {
  [[ "${GOM_SKIP_PACKAGES:-0}" == 1 ]] && return 0
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "gom: dpkg-query/apt-get not found: gom's scripts expect Debian" \
      "(set GOM_SKIP_PACKAGES=1 to skip the package check)" >&2
    return 1
  fi
  local missing=() pkg status
  for pkg in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == installed ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  echo "gom: installing missing packages: ${missing[*]}" >&2
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "gom: not root and sudo not found; as root run: apt-get install ${missing[*]}" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
    { echo "gom: apt-get update failed" >&2; return 1; }
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    { echo "gom: apt-get install failed for: ${missing[*]}" >&2; return 1; }
}
