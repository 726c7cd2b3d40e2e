"""Is each catalog endpoint served? TCP connect, then an unauthenticated GET of its version document.

No token is sent to the probed URL: the version documents (and Swift's `/info`) are public, and a URL in
the catalog is not proof that whoever listens there should see the operator's token. Any HTTP answer
below 500 (300 from a versions list, 401 from a project-scoped path, 404 from a Swift with `expose_info`
off) means something serves the port; 5xx (a proxy with no healthy backend answers 502/503/504), a
refused or timed-out connection, or a port that accepts and never speaks HTTP means it is not served.
"""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from stackrx.cloud.api.facts import Catalog, Endpoint, cloud_view
from stackrx.cloud.api.view import host_port, one_line
from stackrx.sources.base import HostView

if TYPE_CHECKING:
    from keystoneauth1.session import Session

# Keystone substitutes %(tenant_id)s / %(project_id)s in the token's catalog: Swift `AUTH_<id>`, Cinder and
# old Nova `/<32 hex>`. The version document lives one level up.
_PROJECT_SEGMENT = re.compile(r"/(?:AUTH_)?[0-9a-f]{32}/?$|/(?:AUTH_)?%\((?:tenant|project)_id\)s/?$", re.I)


@dataclass(frozen=True)
class Probe:
    endpoint: Endpoint
    url: str  # what was fetched
    served: bool
    status: int | None  # HTTP status when an answer came
    reason: str  # why not served, or what answered
    seconds: float


def probe_url(endpoint: Endpoint) -> str:
    """The URL whose answer proves the endpoint is served (Swift: `/info`, others: the version document)."""
    parts = urlsplit(endpoint.url)
    if endpoint.service_type == "object-store":
        return urlunsplit((parts.scheme, parts.netloc, "/info", "", ""))
    path = _PROJECT_SEGMENT.sub("/", parts.path) or "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def probe(session: Session, endpoint: Endpoint, timeout: float) -> Probe:
    """`session` is the cloud's keystoneauth session: its TLS settings (cacert, insecure) apply."""
    from keystoneauth1 import exceptions as ksa_exc

    start = time.monotonic()
    url = probe_url(endpoint)

    def result(served: bool, status: int | None, reason: str) -> Probe:
        return Probe(endpoint, url, served, status, reason, round(time.monotonic() - start, 3))

    try:
        host, port = host_port(endpoint.url)
    except ValueError as exc:
        return result(False, None, str(exc))
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return result(False, None, f"nothing accepts TCP on {host}:{port}: {one_line(exc)}")
    try:
        status = int(session.get(url, authenticated=False, raise_exc=False, timeout=timeout, connect_retries=0,
                                 redirect=False).status_code)
    except (ksa_exc.ClientException, OSError) as exc:
        return result(False, None, f"{host}:{port} accepts TCP but GET {url} got no HTTP answer: {one_line(exc)}")
    if status >= 500:
        hint = " (a proxy with no healthy backend?)" if status in (502, 503, 504) else ""
        return result(False, status, f"GET {url} answered HTTP {status}{hint}")
    return result(True, status, f"GET {url} answered HTTP {status}")


def load_probes(view: HostView, catalog: Catalog) -> tuple[Probe, ...]:
    """Probe every endpoint of the catalog, each distinct URL once, several at a time."""
    api = cloud_view(view)
    first = {e.url: e for e in reversed(catalog.endpoints)}
    session, timeout = api.conn.session, api.options.probe_timeout
    with ThreadPoolExecutor(max_workers=16) as pool:
        done = dict(zip(first, pool.map(lambda e: probe(session, e, timeout), first.values()), strict=True))
    return tuple(replace(done[e.url], endpoint=e) for e in catalog.endpoints)
