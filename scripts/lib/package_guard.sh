#!/usr/bin/env bash
# scripts/lib/package_guard.sh — catches a package that gom uses but its scripts do not install.
# A green CI on a machine where somebody installed a package by hand hides the missing install
# step; this guard maps every file the build (or the benchmarks) actually use to its Debian
# package and fails unless that package is guaranteed on a fresh machine: in the script's list,
# a hard dependency (Pre-Depends/Depends, first alternative, recursively) of a package in it, or
# part of every Debian system (Essential or Priority required).
#
#   package_guard.sh build BUILD_DIR [--list FILE]   files in BUILD_DIR/CMakeCache.txt: every
#                                                    *_DIR, *_LIBRARY, *_INCLUDE_DIR, *_EXECUTABLE
#   package_guard.sh bench [--list FILE]             files the PyTorch benchmarks load (Python
#                                                    modules and shared libraries, BLAS included)
# --list FILE replaces the script's own list (scripts/setup --list-packages, or scripts/bench
# --list-packages for bench): the guard's own test uses it to show that a shortened list fails.
# Exit 0: every file is covered; 1: one or more are not (each named, with the package and the
# fix); 77: bench only, when PyTorch is not installed (nothing to check); 2: usage.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
usage() {
  echo "usage: package_guard.sh build BUILD_DIR [--list FILE] | bench [--list FILE]" >&2
  exit 2
}

mode="${1:-}"
shift || usage
build_dir=
if [[ "$mode" == build ]]; then
  build_dir="${1:-}"
  shift || usage
elif [[ "$mode" != bench ]]; then
  usage
fi
list_file=
if [[ "${1:-}" == --list ]]; then
  list_file="${2:-}"
  [[ -n "$list_file" ]] || usage
fi

# The list the guarded script installs, and how the fix reads.
if [[ "$mode" == build ]]; then
  script=scripts/setup
  fix_where="PACKAGES in scripts/setup"
else
  script=scripts/bench
  fix_where="BENCH_PACKAGES in scripts/bench"
fi
if [[ -n "$list_file" ]]; then
  listed="$(grep -v '^#' "$list_file")" || { echo "package guard: cannot read $list_file" >&2; exit 2; }
else
  listed="$("$ROOT/$script" --list-packages)" || { echo "package guard: $script --list-packages failed" >&2; exit 2; }
fi

# covered_packages: the listed packages, their hard dependencies (first alternative: what apt
# installs on a machine that has none of them), recursively, and the base system. Read from
# dpkg's status, so it needs no network and describes exactly what apt resolved here.
covered_packages() {
  dpkg-query -W -f='${Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\n' |
    awk -F'\t' -v listed="$listed" '
      {
        deps[$1] = $4
        if ($2 == "yes" || $3 == "required") queue[++tail] = $1
      }
      END {
        n = split(listed, roots, "\n")
        for (i = 1; i <= n; ++i) if (roots[i] != "") queue[++tail] = roots[i]
        while (head < tail) {
          p = queue[++head]
          if (p in seen) continue
          seen[p] = 1
          print p
          m = split(deps[p], alts, ",")
          for (j = 1; j <= m; ++j) {
            d = alts[j]
            sub(/\|.*/, "", d)            # first alternative only
            sub(/\(.*/, "", d)            # version constraint
            gsub(/[ \t]/, "", d)
            sub(/:.*/, "", d)             # :any, :amd64
            if (d != "" && !(d in seen)) queue[++tail] = d
          }
        }
      }'
}
declare -A COVERED=()
while read -r p; do COVERED[$p]=1; done < <(covered_packages)

# use PATH WHY: notes that gom's build or benchmarks use PATH (and, for a symbolic link, the
# file it names). Files outside dpkg's /usr (/usr/local) are not Debian's: left to whoever
# installs them.
declare -A WHY=()
use() {
  local path="$1" target
  [[ "$path" == /usr/* && "$path" != /usr/local/* && -e "$path" ]] || return 0
  WHY[$path]="$2"
  target="$(readlink -f "$path")"
  [[ "$target" == "$path" ]] || WHY[$target]="$2, through the link $path"
}

# OWNERS[path]: the packages dpkg says own it, space-separated. One dpkg-query for all paths (a
# call costs a quarter second), then one more for those only found with /usr merged away.
declare -A OWNERS=()
find_owners() {
  local line pkgs path missing=()
  while IFS= read -r line; do
    # "pkg1:amd64, pkg2: /path"
    pkgs="${line%%: /*}"
    path="/${line#*: /}"
    pkgs="$(tr ',' '\n' <<<"$pkgs" | sed 's/^ *//; s/:.*//' | tr '\n' ' ')"
    if [[ -n "${1:-}" ]]; then path="/usr$path"; fi
    OWNERS[$path]="$pkgs"
  done < <(dpkg-query -S "${@:2}" 2>/dev/null | grep ': /')
}
dpkg_owners() {
  local p missing=()
  find_owners "" "${!WHY[@]}"
  for p in "${!WHY[@]}"; do
    [[ -n "${OWNERS[$p]:-}" || "$p" != /usr/* ]] || missing+=("${p#/usr}")
  done
  ((${#missing[@]} == 0)) || find_owners merged "${missing[@]}"
}

# verdict: every used path must come from a covered package; a directory owned by several
# packages needs only one of them covered (it tells no more than that).
verdict() {
  local path p ok failures=0
  dpkg_owners
  for path in $(printf '%s\n' "${!WHY[@]}" | sort); do
    # A link that update-alternatives manages (/usr/bin/mpiexec -> /etc/alternatives/...) is
    # no package's: the file it names is checked in its place.
    if [[ -z "${OWNERS[$path]:-}" && -L "$path" && "$(readlink "$path")" == /etc/alternatives/* ]]; then
      continue
    fi
    if [[ -z "${OWNERS[$path]:-}" ]]; then
      echo "package guard: $path (${WHY[$path]}) belongs to no Debian package;" \
        "install it from a package listed in $fix_where" >&2
      failures=$((failures + 1))
      continue
    fi
    ok=0
    for p in ${OWNERS[$path]}; do [[ -n "${COVERED[$p]:-}" ]] && ok=1; done
    if ((!ok)); then
      p="${OWNERS[$path]%% *}"
      echo "package guard: $path (${WHY[$path]}) comes from $p, which is neither in $script's list" \
        "nor a hard dependency of a package in it: a fresh machine lacks it. Fix: add $p to $fix_where." >&2
      failures=$((failures + 1))
    fi
  done
  if ((failures)); then
    echo "package guard: $failures of ${#WHY[@]} files come from packages a fresh machine would not have" >&2
    exit 1
  fi
  echo "package guard ($mode): all ${#WHY[@]} files come from packages $script installs"
}

if [[ "$mode" == build ]]; then
  cache="$build_dir/CMakeCache.txt"
  [[ -f "$cache" ]] || { echo "package guard: $cache not found (configure the build first)" >&2; exit 2; }
  while IFS= read -r line; do
    key="${line%%:*}"
    value="${line#*=}"
    IFS=';' read -ra paths <<<"$value"
    for path in "${paths[@]}"; do
      if [[ -d "$path" && "$key" == *_DIR && "$key" != *_INCLUDE_DIR ]]; then
        # A package's CMake config folder: the files in it are what find_package read.
        for f in "$path"/*; do [[ -f "$f" ]] && use "$f" "$key in $cache"; done
      else
        use "$path" "$key in $cache"
      fi
    done
  done < <(grep -E '^[A-Za-z0-9_]+_(DIR|LIBRARY|LIBRARY_[A-Z]+|INCLUDE_DIR|EXECUTABLE):[A-Z]+=/usr/' "$cache")
else
  PYTHON=/usr/bin/python3
  if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "package guard: Debian's python3-torch is not installed (scripts/bench installs it); nothing to check" >&2
    exit 77
  fi
  # Everything the benchmarks' Python side loads: the interpreter, every imported module's file
  # and every shared library mapped once torch has run a matrix product (BLAS loads lazily).
  probe='
import sys
# Modules the interpreter loaded at start-up (site, and .pth hooks of whatever else happens to be
# installed) are not used by the benchmarks as such: the interpreter stands for them.
startup = set(sys.modules)
sys.path.insert(0, sys.argv[1])
# The benchmarks parse their arguments at import: take torch_common and what they import.
import argparse, gzip, os, statistics, struct, time, torch_common, torch, torch.nn
torch.mm(torch.ones(64, 64), torch.ones(64, 64))
print(sys.executable)
for name, m in list(sys.modules.items()):
    f = None if name in startup else getattr(m, "__file__", None)
    if f: print(f)
for line in open("/proc/self/maps"):
    parts = line.split()
    if len(parts) >= 6 and ".so" in parts[5]: print(parts[5])
'
  files="$("$PYTHON" -c "$probe" "$ROOT/bench" | sort -u)" ||
    { echo "package guard: the benchmarks' Python imports failed (see above)" >&2; exit 1; }
  # One file per top-level Python package keeps this fast (dpkg-query -S is slow with many
  # paths): a Debian package ships its Python package's folder whole.
  while IFS= read -r path; do
    use "$path" "loaded by the PyTorch benchmarks"
  done < <(awk 'match($0, /\/(dist-packages|python3\.[0-9]+)\/[^\/]+/) {
                  if (seen[substr($0, 1, RSTART + RLENGTH)]++) next
                } { print }' <<<"$files")
fi

verdict
