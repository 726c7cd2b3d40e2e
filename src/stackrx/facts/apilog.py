"""API requests from eventlet/oslo WSGI access lines, aggregated per service and path template.

Source: every in-window hit of the log signature `R-WSGI` (`"GET /v2.1/servers/detail HTTP/1.1" status: 200
len: 1893 time: 0.2477829`, the oslo `wsgi_log_format`), streamed once through `stackrx.facts.logs.iter_hits`.
Paths are reduced to templates so per-endpoint statistics make sense: the query string is dropped and UUIDs,
32-hex project ids, long hex ids and numbers become `{id}` (`/v2.1/{id}/servers/{id}/action`).
The service is the log file's name (`nova-api`, `neutron-server`, `glance-api`), rotation suffixes removed.

Memory stays bounded by the number of templates: each keeps its durations (floats) for percentiles, its
slowest hit and up to `KEEP_SLOW` hits above the threshold asked for by the checks (60 s).
`/servers/<uuid>/action` responses larger than 64 KiB — only `os-getConsoleOutput` returns such bodies —
are kept per instance with their times, for the console-flood check.

Public API:

    template(path) -> str
    Endpoint(service, method, template, durations: list[float], slowest: Hit, over_limit: list[Hit],
             over_limit_count)  .count, .p95
    ActionResponse(instance, length, when: datetime | None, hit)
    ApiRequests(endpoints: dict[(service, method, template), Endpoint], actions: list[ActionResponse],
                requests: int)
    load_api_requests(view, window_days) -> ApiRequests
"""

from __future__ import annotations

import math
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime

from stackrx.facts.logs import Hit, iter_hits
from stackrx.sources.base import HostView

SLOW_LIMIT_S = 60.0
KEEP_SLOW = 5
LARGE_ACTION_BYTES = 64 * 1024
_MAX_ACTIONS = 100_000

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"(?<=/)[0-9a-fA-F]{16,64}(?=/|$)")
_NUM = re.compile(r"(?<=/)\d+(?=/|$)")
_ACTION = re.compile(r"/servers/(?P<uuid>[0-9a-fA-F-]{36})/action$")
_ROTATION = re.compile(r"(?:[.-]\d+|-\d{8})?(?:\.gz)?$")


def template(path: str) -> str:
    path = path.split("?", 1)[0]
    path = _UUID.sub("{id}", path)
    path = _HEX.sub("{id}", path)
    return _NUM.sub("{id}", path)


def service_of(source: str) -> str:
    name = posixpath.basename(source)
    name = _ROTATION.sub("", name)
    return name[:-4] if name.endswith(".log") else name


@dataclass
class Endpoint:
    service: str
    method: str
    template: str
    durations: list[float] = field(default_factory=list)
    slowest: Hit | None = None
    slowest_s: float = -1.0
    over_limit: list[Hit] = field(default_factory=list)
    over_limit_count: int = 0

    @property
    def count(self) -> int:
        return len(self.durations)

    @property
    def p95(self) -> float:
        ordered = sorted(self.durations)
        if not ordered:
            return 0.0
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class ActionResponse:
    instance: str
    length: int
    when: datetime | None
    hit: Hit


@dataclass
class ApiRequests:
    endpoints: dict[tuple[str, str, str], Endpoint] = field(default_factory=dict)
    actions: list[ActionResponse] = field(default_factory=list)
    requests: int = 0


def load_api_requests(view: HostView, window_days: int) -> ApiRequests:
    out = ApiRequests()
    for hit in iter_hits(view, ["R-WSGI"], window_days):
        g = hit.groups
        try:
            seconds = float(g.get("t", ""))
            length = int(g.get("len", ""))
        except ValueError:
            continue
        method, path = g.get("m", "?"), g.get("path", "")
        out.requests += 1
        key = (service_of(hit.source), method, template(path))
        endpoint = out.endpoints.get(key)
        if endpoint is None:
            endpoint = out.endpoints[key] = Endpoint(*key)
        endpoint.durations.append(seconds)
        if seconds > endpoint.slowest_s:
            endpoint.slowest, endpoint.slowest_s = hit, seconds
        if seconds > SLOW_LIMIT_S:
            endpoint.over_limit_count += 1
            if len(endpoint.over_limit) < KEEP_SLOW:
                endpoint.over_limit.append(hit)
        action = _ACTION.search(path.split("?", 1)[0])
        if method == "POST" and action and length > LARGE_ACTION_BYTES and len(out.actions) < _MAX_ACTIONS:
            out.actions.append(ActionResponse(action.group("uuid").lower(), length, hit.timestamp, hit))
    return out
