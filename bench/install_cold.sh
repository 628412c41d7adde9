#!/usr/bin/env bash
# Measures `make install` on a fresh clone with pip's cache disabled (every wheel downloaded), and the
# size of the resulting .venv. The clone is a sibling of the repo so ../shared/wheels (the CPU torch
# wheelhouse, when present) is found exactly as in CI.
#
#   bench/install_cold.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
clone=$(dirname "$repo")/.bench-install-cold
rm -rf "$clone"
git clone -q "$repo" "$clone"
trap 'rm -rf "$clone"' EXIT
start=$EPOCHREALTIME
PIP_NO_CACHE_DIR=1 make -C "$clone" install >"$clone.log" 2>&1 || { cat "$clone.log"; exit 1; }
end=$EPOCHREALTIME
awk -v s="$start" -v e="$end" 'BEGIN { printf "make install, cold (no pip cache): %.0f s\n", e - s }'
echo "venv size: $(du -sh "$clone/.venv" | cut -f1)  (torch: $(du -sh "$clone"/.venv/lib/python3*/site-packages/torch | cut -f1))"
start=$EPOCHREALTIME
make -C "$clone" install >/dev/null
awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "make install, nothing changed: %.2f s\n", e - s }'
