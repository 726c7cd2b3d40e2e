#!/usr/bin/env bash
# Build (once) a virtualenv holding OpenStack keystone and gunicorn, for the `cloud` command's tests, which
# run a real Keystone (SQLite backend) on loopback. Idempotent: a finished venv is reused; a half-built one
# (interrupted install) is rebuilt. Prints the venv path as the last line of stdout.
# Env: STACKRX_CACHE (default <repo>/.cache), KEYSTONE_VERSION (default below), PYTHON (interpreter).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${STACKRX_CACHE:-$ROOT/.cache}"
KEYSTONE_VERSION="${KEYSTONE_VERSION:-30.0.0}"
VENV="$CACHE/keystone-venv-$KEYSTONE_VERSION"
mkdir -p "$CACHE"

# Several pytest sessions may start at once; only one builds.
exec 9>"$CACHE/keystone-venv.lock"
flock 9

if [ -f "$VENV/.complete" ] && [ -x "$VENV/bin/keystone-manage" ] && [ -x "$VENV/bin/gunicorn" ]; then
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
  uv pip install --quiet --python "$VENV/bin/python" "keystone==$KEYSTONE_VERSION" gunicorn "$OPENSSL_FLOOR" >&2
else
  "$PY" -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet "keystone==$KEYSTONE_VERSION" gunicorn "$OPENSSL_FLOOR" >&2
fi
# Import the WSGI entry point once so a broken install is caught here, not as a hanging server.
"$VENV/bin/python" -c "import keystone.server.wsgi" >&2
touch "$VENV/.complete"
echo "$VENV"
