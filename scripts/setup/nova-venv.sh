#!/usr/bin/env bash
# Build (once) a virtualenv holding OpenStack nova and PyMySQL, for the tests that need nova's own schema
# migrations and `nova-manage db archive_deleted_rows`. Idempotent: a finished venv is reused; a half-built
# one (interrupted install) is rebuilt. Prints the venv path as the last line of stdout.
# Env: STACKRX_CACHE (default <repo>/.cache), NOVA_VERSION (default below), PYTHON (interpreter for the venv).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${STACKRX_CACHE:-$ROOT/.cache}"
NOVA_VERSION="${NOVA_VERSION:-34.0.0}"
VENV="$CACHE/nova-venv-$NOVA_VERSION"
mkdir -p "$CACHE"

# Several pytest sessions may start at once; only one builds.
exec 9>"$CACHE/nova-venv.lock"
flock 9

if [ -f "$VENV/.complete" ] && [ -x "$VENV/bin/nova-manage" ]; then
  echo "$VENV"
  exit 0
fi

rm -rf "$VENV"
PY="${PYTHON:-$(command -v python3)}"
# Nothing caps cryptography, and only old pyOpenSSL releases (22.x) leave it unbounded, so a resolver that takes
# the newest cryptography pairs it with a pyOpenSSL that fails at import ('lib' has no attribute GEN_EMAIL),
# which eventlet and so every OpenStack service imports. A floor on pyOpenSSL makes it pick a matching pair.
OPENSSL_FLOOR="pyOpenSSL>=24"
if command -v uv >/dev/null 2>&1; then
  uv venv --quiet --python "$PY" "$VENV" >&2
  # PyMySQL is nova's MySQL driver but not one of its requirements.
  uv pip install --quiet --python "$VENV/bin/python" "nova==$NOVA_VERSION" PyMySQL "$OPENSSL_FLOOR" >&2
else
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "nova==$NOVA_VERSION" PyMySQL "$OPENSSL_FLOOR" >&2
fi
"$VENV/bin/nova-manage" --version >&2
touch "$VENV/.complete"
echo "$VENV"
