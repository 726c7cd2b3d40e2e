"""WSGI entry point for the test Keystone, loaded by gunicorn from the keystone venv.

oslo.config parses `sys.argv` when Keystone initialises; under gunicorn that is gunicorn's own command line,
which Keystone rejects: the worker exits, gunicorn respawns it forever and clients hang. The configuration
comes from OS_KEYSTONE_CONFIG_FILES instead, so argv is cut to the program name before the app is built.
"""

import sys

sys.argv = sys.argv[:1]

from keystone.server.wsgi import initialize_public_application  # noqa: E402

application = initialize_public_application()
