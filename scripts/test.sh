#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run lint, types and tests.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive for real (network namespaces, veth, bridges).
# chromium renders the HTML report; prometheus ships promtool; postgresql backs the history store test;
# openssh-server runs the loopback fleet hosts; mariadb-server + galera-4 (+ rsync/socat for SST) the DB tests.
APT_PACKAGES="iproute2 procps xz-utils bzip2 chromium prometheus postgresql openssh-server mariadb-server galera-4
  rsync socat"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  for pkg in $APT_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  if [ -n "$missing" ]; then
    echo "== apt-get install$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv
echo "== uv sync (locked)"
uv sync --frozen --extra dev --quiet
echo "== ruff"
uv run --frozen ruff check src tests bench
echo "== mypy --strict src"
uv run --frozen mypy
echo "== docs/checks.md is current"
uv run --frozen stackrx checks docs --check --output docs/checks.md
echo "== pytest"
uv run --frozen pytest "$@"
