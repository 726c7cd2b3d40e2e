"""Secret redaction applied to every string that leaves the engine.

Evidence excerpts are copied from config files and logs, which carry passwords, transport URLs and
tokens. Redaction runs on the way out (engine and reporters), so a check author cannot forget it.
"""

from __future__ import annotations

import re

MASK = "***"

# `rabbit://user:secret@host`, `mysql+pymysql://nova:secret@db/nova`: keep scheme, user and host.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s,;]*):(?P<pw>[^@\s]+)@")

# `password = x`, `admin_token: x`, `"secret": "x"`, `OS_PASSWORD=x`, `--password x`.
_SECRET_KEY = (
    r"(?:[A-Za-z0-9_.\-]*(?:password|passwd|secret|token|api_key|apikey|credential|private_key|auth_key"
    r"|encryption_key|fernet_key|memcache_secret_key|metadata_proxy_shared_secret|rabbit_pass|os_password)"
    r"[A-Za-z0-9_.\-]*)"
)
_KEY_VALUE = re.compile(
    r"(?P<key>" + _SECRET_KEY + r")(?P<sep>\"?\s*[=:]\s*\"?)(?P<val>[^\s\"',;}]+)",
    re.IGNORECASE,
)
# Command-line flags: `--password x`, `--os-password x`.
_FLAG = re.compile(r"(?P<key>--[\w-]*(?:password|secret|token)[\w-]*)(?P<sep>\s+|=)(?P<val>\S+)", re.IGNORECASE)
# HTTP-style headers and bearer tokens in logs.
_HEADERS = re.compile(r"(?P<key>X-(?:Auth|Subject|Service)-Token|Authorization)(?P<sep>:\s*(?:Bearer\s+)?)"
                      r"(?P<val>\S+)", re.IGNORECASE)
# Keystone fernet / UUID tokens and sos' own masking must survive as masks, never as values.
_GAAAA = re.compile(r"\bgAAAA[A-Za-z0-9_\-]{20,}={0,2}")

_SAFE_VALUES = {"", MASK, "*********", "none", "null", "true", "false", "<none>", "<redacted>"}
# `keystonemiddleware.auth_token:filter_factory`, `filter:s3token:auth_uri`: a Python entry point or a dotted
# option name, not a secret. No generated secret is a run of lowercase words joined by underscores.
_NOT_A_SECRET_AFTER_COLON = re.compile(r"[a-z]+(?:_[a-z]+)+")


def _mask_kv(match: re.Match[str]) -> str:
    value = match.group("val")
    if value.lower() in _SAFE_VALUES or set(value) == {"*"}:
        return match.group(0)
    if match.group("sep") == ":" and _NOT_A_SECRET_AFTER_COLON.fullmatch(value):
        return match.group(0)
    return f"{match.group('key')}{match.group('sep')}{MASK}"


def redact(text: str) -> str:
    """Return `text` with credentials replaced by `***`."""
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MASK}@", text)
    text = _HEADERS.sub(lambda m: f"{m.group('key')}{m.group('sep')}{MASK}", text)
    text = _FLAG.sub(_mask_kv, text)
    text = _KEY_VALUE.sub(_mask_kv, text)
    return _GAAAA.sub(MASK, text)


def redact_tree(value: object) -> object:
    """Redact every string inside JSON-like data (host facts), keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value
