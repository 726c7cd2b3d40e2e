"""One OpenStack cloud reached through openstacksdk, seen as a host view of kind "api".

Only GET requests are sent. Every response body becomes a `Text` whose source names the service and the
call (`api:network GET /v2.0/agents`), so findings cite the API call they came from the way node findings
cite a file. The SDK resolves endpoints through the Keystone catalog and the services' version documents;
the view only adds paths relative to the discovered versioned endpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from stackrx.errors import MissingEvidence
from stackrx.redact import redact
from stackrx.sources.base import NoFilesView, Text

if TYPE_CHECKING:
    from openstack.connection import Connection

# openstacksdk proxy attribute per catalog service type used by the checks.
_PROXIES = {"identity": "identity", "compute": "compute", "network": "network", "image": "image"}
# Noisy libraries that log warnings to stderr through logging's last-resort handler.
_LOGGERS = ("keystoneauth", "openstack", "stevedore", "urllib3")


class CloudError(Exception):
    """The cloud could not be reached or authenticated: exit 1 with this one-line reason."""


class ApiError(Exception):
    """One API call failed (service down, 5xx): the check that needed it becomes `error`."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True)
class CloudOptions:
    cloud: str | None = None  # clouds.yaml entry; None = OS_CLOUD or the OS_* variables
    api_timeout: float = 30.0  # seconds per API request
    probe_timeout: float = 3.0  # seconds per endpoint probe (TCP connect, then GET)
    stale_days: int = 30  # a down agent/service silent longer than this is a leftover record
    service_users: dict[str, tuple[str, ...]] = field(default_factory=dict)  # service type -> user names


def one_line(exc: BaseException) -> str:
    """A short reason from an SDK / keystoneauth / requests exception (their messages nest and repeat)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host",
                   "certificate verify failed", "Temporary failure in name resolution"):
        if marker in text:
            return marker.lower()
    return redact(text[:300])


def quiet_libraries() -> None:
    """Keep library warnings (discovery retries, deprecations) off the operator's terminal."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False


def connect(options: CloudOptions) -> CloudView:
    """Load the cloud's configuration, authenticate once, and return its view; CloudError on failure."""
    import openstack
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    try:
        conn = openstack.connect(cloud=options.cloud, api_timeout=options.api_timeout)
    except ksa_exc.MissingRequiredOptions as exc:
        missing = ", ".join(o.dest for o in exc.options)
        raise CloudError(f"incomplete credentials (missing {missing}): set OS_* variables or use "
                         "--os-cloud with a clouds.yaml entry") from None
    except (sdk_exc.SDKException, ksa_exc.ClientException, OSError, ValueError) as exc:
        raise CloudError(f"cannot load the cloud configuration: {one_line(exc)}") from None
    auth_url = str(conn.config.config.get("auth", {}).get("auth_url") or "?")
    try:
        conn.session.get_token()
    except ksa_exc.MissingRequiredOptions as exc:
        missing = ", ".join(o.dest for o in exc.options)
        raise CloudError(f"incomplete credentials (missing {missing}): set OS_* variables or use "
                         "--os-cloud with a clouds.yaml entry") from None
    except ksa_exc.Unauthorized:
        raise CloudError(f"authentication refused by {redact(auth_url)} (check user, password, project "
                         "and domain)") from None
    except (ksa_exc.ConnectFailure, ksa_exc.ConnectTimeout, ksa_exc.SSLError, ksa_exc.DiscoveryFailure) as exc:
        raise CloudError(f"cannot reach the identity endpoint {redact(auth_url)}: {one_line(exc)}") from None
    except (ksa_exc.ClientException, sdk_exc.SDKException) as exc:
        raise CloudError(f"authentication against {redact(auth_url)} failed: {one_line(exc)}") from None
    return CloudView(conn, options, auth_url)


class CloudView(NoFilesView):
    kind = "api"

    def __init__(self, conn: Connection, options: CloudOptions, auth_url: str) -> None:
        super().__init__(redact(auth_url))
        self.conn = conn
        self.options = options
        self.name = str(conn.config.name or "envvars")
        self.opened_at = datetime.now(UTC)

    # -- identity --------------------------------------------------------------
    def hostname(self) -> str:
        return f"cloud:{self.name}"

    def collected_at(self) -> datetime | None:
        return self.opened_at

    def interface(self) -> str:
        value = self.conn.config.get_interface()
        if isinstance(value, list):
            value = value[0] if value else None
        return value or "public"

    def region(self) -> str:
        return self.conn.config.get_region_name() or ""

    def close(self) -> None:
        self.conn.close()

    # -- API -------------------------------------------------------------------
    def get(self, service: str, path: str, params: dict[str, str] | None = None,
            microversion: str | None = None) -> Text:
        """GET `path` (relative to the service's versioned endpoint) and return the body as evidence.

        The evidence source names the path actually requested (`api:network GET /v2.0/agents`).
        """
        from keystoneauth1 import exceptions as ksa_exc
        from openstack import exceptions as sdk_exc

        source = f"api:{service} GET {path}" + (f"?{urlencode(params)}" if params else "")
        proxy = getattr(self.conn, _PROXIES[service])
        kwargs: dict[str, Any] = {"params": params or None}
        if microversion:
            kwargs["microversion"] = microversion
        try:
            resp = proxy.get(path, **kwargs)
        except ksa_exc.EndpointNotFound:
            raise MissingEvidence(f"{source} (no {service} endpoint in the catalog for region "
                                  f"{self.region() or '(any)'}, interface {self.interface()})") from None
        except (ksa_exc.ClientException, sdk_exc.SDKException, OSError) as exc:
            raise ApiError(source, one_line(exc)) from None
        sent = urlsplit(str(resp.url))
        source = f"api:{service} GET {sent.path}" + (f"?{unquote(sent.query)}" if sent.query else "")
        code = int(resp.status_code)
        if code in (401, 403):
            raise MissingEvidence(f"{source}: HTTP {code} (needs admin credentials)")
        if code == 404:
            raise MissingEvidence(f"{source}: HTTP 404 (call or API extension not available)")
        if code >= 400:
            raise ApiError(source, f"HTTP {code}: {' '.join(resp.text.split())[:200]}")
        return Text(source, resp.text)


def host_port(url: str) -> tuple[str, int]:
    """Host and TCP port of an endpoint URL (scheme default port when none is given); ValueError if bad."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
