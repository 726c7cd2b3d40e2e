"""Typed facts from OpenStack API responses: parsers (pure, on the JSON body) and loaders (the GETs).

Field names are the ones of the API references: Keystone `GET /v3/auth/catalog`, `/v3/users`,
`/v3/projects`, `/v3/role_assignments`; Neutron `GET /v2.0/routers` (`ha`, l3-ha extension),
`/v2.0/routers/{id}/l3-agents` (`ha_state`: active / standby / unknown, null for non-HA bindings),
`/v2.0/agents` (`alive`, `heartbeat_timestamp`); Nova `GET /os-services` (`state` up/down, `status`
enabled/disabled, `forced_down` since 2.11), `/os-hypervisors/detail` (`hypervisor_type`); Glance
`GET /v2/images` (`disk_format`, extra properties as top-level keys, paged by `next`).

A parser never raises anything but ParseError: API bodies are JSON documents, and an entry of the wrong
shape is skipped rather than failing the whole list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stackrx.cloud.api.view import CloudView
from stackrx.errors import NotApplicable, ParseError
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

MAX_PAGES = 500  # a runaway `next` chain must end (500 pages of 1000 images is far beyond any cloud)
PAGE_SIZE = "1000"  # glance's default api_limit_max; larger values are cut to it by the server
NOVA_MICROVERSION = "2.11"  # adds os-services `forced_down`; every nova since Liberty serves it


# -- shapes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    service_type: str
    service_name: str
    interface: str
    region: str
    url: str
    id: str
    source: str

    def evidence(self) -> Evidence:
        return Evidence(source=self.source, excerpt=f"{self.service_type} ({self.service_name}) {self.interface} "
                        f"{self.region or '-'} {self.url} id={self.id}")


@dataclass(frozen=True)
class Catalog:
    source: str
    endpoints: tuple[Endpoint, ...]

    def types(self) -> set[str]:
        return {e.service_type for e in self.endpoints}


@dataclass(frozen=True)
class Router:
    id: str
    name: str
    ha: bool | None  # None: the attribute is not shown (no l3-ha extension, or not admin)
    admin_state_up: bool
    distributed: bool | None
    status: str
    source: str


@dataclass(frozen=True)
class Agent:
    id: str
    agent_type: str
    binary: str
    host: str
    alive: bool
    admin_state_up: bool
    heartbeat: datetime | None
    ha_state: str | None
    agent_mode: str
    source: str

    @property
    def label(self) -> str:
        return f"{self.agent_type or self.binary}@{self.host}"

    def evidence(self) -> Evidence:
        parts = [f"host={self.host}", f"agent_type={self.agent_type}", f"alive={str(self.alive).lower()}",
                 f"admin_state_up={str(self.admin_state_up).lower()}"]
        if self.ha_state is not None:
            parts.append(f"ha_state={self.ha_state}")
        if self.heartbeat is not None:
            parts.append(f"heartbeat_timestamp={self.heartbeat:%Y-%m-%d %H:%M:%S}")
        return Evidence(source=self.source, excerpt=f"agent {self.id}: " + " ".join(parts))


@dataclass(frozen=True)
class ComputeService:
    id: str
    binary: str
    host: str
    state: str | None  # None on a down cell's placeholder record (2.69)
    status: str
    forced_down: bool
    updated_at: datetime | None
    disabled_reason: str
    source: str

    def evidence(self) -> Evidence:
        when = f"{self.updated_at:%Y-%m-%dT%H:%M:%S}" if self.updated_at else "null"
        return Evidence(source=self.source, excerpt=(
            f"service {self.id}: binary={self.binary} host={self.host} state={self.state} status={self.status} "
            f"forced_down={str(self.forced_down).lower()} updated_at={when}"))


@dataclass(frozen=True)
class Hypervisor:
    hostname: str
    hypervisor_type: str
    source: str


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    status: str
    disk_format: str
    properties: dict[str, str]  # extra (non-schema) properties, e.g. vmware_disktype, hypervisor_type
    direct_url: str
    location_urls: tuple[str, ...]
    source: str

    def evidence(self, *keys: str) -> Evidence:
        extra = " ".join(f"{k}={self.properties[k]}" for k in keys if k in self.properties)
        return Evidence(source=self.source, excerpt=(
            f"image {self.id} {self.name!r}: status={self.status} disk_format={self.disk_format}"
            + (f" {extra}" if extra else "")))


@dataclass(frozen=True)
class ImagePage:
    images: tuple[Image, ...]
    next_marker: str | None


@dataclass(frozen=True)
class RouterPage:
    routers: tuple[Router, ...]
    next_marker: str | None


@dataclass(frozen=True)
class IdentityItem:
    """A Keystone user or project: the fields the checks read."""

    id: str
    name: str
    enabled: bool
    domain_id: str
    source: str

    def evidence(self, kind: str) -> Evidence:
        return Evidence(source=self.source, excerpt=(
            f"{kind} {self.id}: name={self.name} enabled={str(self.enabled).lower()} domain_id={self.domain_id}"))


@dataclass(frozen=True)
class UserListing:
    """Users found by one lookup; the source is kept so that an empty answer can be cited too."""

    source: str
    users: tuple[IdentityItem, ...]


@dataclass(frozen=True)
class RoleAssignment:
    role_id: str
    role_name: str
    source: str


# -- parsing helpers ---------------------------------------------------------------------------------
def _document(text: Text) -> dict[str, Any]:
    try:
        doc = json.loads(text.content)
    except (ValueError, RecursionError) as exc:
        raise ParseError(text.source, f"not a JSON document ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise ParseError(text.source, "expected a JSON object")
    return doc


def _items(text: Text, key: str) -> Iterator[dict[str, Any]]:
    doc = _document(text)
    items = doc.get(key)
    if not isinstance(items, list):
        raise ParseError(text.source, f"no `{key}` list in the response")
    return (item for item in items if isinstance(item, dict))


def _str(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _bool(item: dict[str, Any], key: str, default: bool) -> bool:
    value = item.get(key)
    return value if isinstance(value, bool) else default


def _time(value: Any) -> datetime | None:
    """API timestamps: `2017-09-12 19:40:08` (neutron), `2012-10-29T13:42:02.000000` (nova), all UTC."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _marker(link: Any) -> str | None:
    """The `marker` query parameter of a paging link (glance `next`, neutron `*_links` rel=next)."""
    if not isinstance(link, str) or not link:
        return None
    values = parse_qs(urlsplit(link).query).get("marker")
    return values[0] if values else None


# -- parsers -----------------------------------------------------------------------------------------
def parse_catalog(text: Text) -> Catalog:
    endpoints: list[Endpoint] = []
    for service in _items(text, "catalog"):
        listed = service.get("endpoints")
        for ep in listed if isinstance(listed, list) else ():
            if isinstance(ep, dict) and _str(ep, "url"):
                endpoints.append(Endpoint(
                    service_type=_str(service, "type"), service_name=_str(service, "name"),
                    interface=_str(ep, "interface"), region=_str(ep, "region_id") or _str(ep, "region"),
                    url=_str(ep, "url"), id=_str(ep, "id"), source=text.source))
    return Catalog(text.source, tuple(endpoints))


def parse_routers(text: Text) -> RouterPage:
    routers = tuple(
        Router(id=_str(r, "id"), name=_str(r, "name"),
               ha=r["ha"] if isinstance(r.get("ha"), bool) else None,
               admin_state_up=_bool(r, "admin_state_up", True),
               distributed=r["distributed"] if isinstance(r.get("distributed"), bool) else None,
               status=_str(r, "status"), source=text.source)
        for r in _items(text, "routers") if _str(r, "id"))
    links = _document(text).get("routers_links")
    nxt = next((link.get("href") for link in links if isinstance(link, dict) and link.get("rel") == "next"),
               None) if isinstance(links, list) else None
    return RouterPage(routers, _marker(nxt))


def parse_agents(text: Text) -> tuple[Agent, ...]:
    """`GET /v2.0/agents` and `GET /v2.0/routers/{id}/l3-agents` share the agent shape."""
    agents: list[Agent] = []
    for a in _items(text, "agents"):
        config = a.get("configurations")
        mode = config.get("agent_mode") if isinstance(config, dict) else None
        ha_state = a.get("ha_state")
        agents.append(Agent(
            id=_str(a, "id").strip(), agent_type=_str(a, "agent_type"), binary=_str(a, "binary"),
            host=_str(a, "host"), alive=_bool(a, "alive", False), admin_state_up=_bool(a, "admin_state_up", True),
            heartbeat=_time(a.get("heartbeat_timestamp")),
            ha_state=ha_state.lower() if isinstance(ha_state, str) else None,
            agent_mode=mode if isinstance(mode, str) else "", source=text.source))
    return tuple(agents)


def parse_compute_services(text: Text) -> tuple[ComputeService, ...]:
    services: list[ComputeService] = []
    for s in _items(text, "services"):
        ident = s.get("id")
        state = s.get("state")
        services.append(ComputeService(
            id=str(ident) if isinstance(ident, (str, int)) and not isinstance(ident, bool) else "",
            binary=_str(s, "binary"), host=_str(s, "host"),
            state=state.lower() if isinstance(state, str) else None, status=_str(s, "status").lower(),
            forced_down=_bool(s, "forced_down", False), updated_at=_time(s.get("updated_at")),
            disabled_reason=_str(s, "disabled_reason"), source=text.source))
    return tuple(services)


def parse_hypervisors(text: Text) -> tuple[Hypervisor, ...]:
    return tuple(Hypervisor(_str(h, "hypervisor_hostname"), _str(h, "hypervisor_type"), text.source)
                 for h in _items(text, "hypervisors"))


# Glance image schema properties; anything else on an image is an extra (operator-set) property.
_IMAGE_SCHEMA = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo", "os_hash_value",
    "owner", "size", "virtual_size", "min_ram", "min_disk", "created_at", "updated_at", "tags", "disk_format",
    "container_format", "direct_url", "locations", "self", "file", "schema", "stores",
}


def parse_images(text: Text) -> ImagePage:
    images: list[Image] = []
    for i in _items(text, "images"):
        if not _str(i, "id"):
            continue
        props = {k: v for k, v in i.items() if k not in _IMAGE_SCHEMA and isinstance(v, str)}
        locations = i.get("locations")
        urls = tuple(_str(loc, "url") for loc in locations if isinstance(loc, dict)) \
            if isinstance(locations, list) else ()
        images.append(Image(
            id=_str(i, "id"), name=_str(i, "name"), status=_str(i, "status").lower(),
            disk_format=_str(i, "disk_format").lower(), properties=props, direct_url=_str(i, "direct_url"),
            location_urls=urls, source=text.source))
    return ImagePage(tuple(images), _marker(_document(text).get("next")))


def _identity_items(text: Text, key: str) -> tuple[IdentityItem, ...]:
    return tuple(IdentityItem(_str(u, "id"), _str(u, "name"), _bool(u, "enabled", True), _str(u, "domain_id"),
                              text.source)
                 for u in _items(text, key) if _str(u, "id"))


def parse_users(text: Text) -> UserListing:
    return UserListing(text.source, _identity_items(text, "users"))


def parse_projects(text: Text) -> tuple[IdentityItem, ...]:
    return _identity_items(text, "projects")


def parse_role_assignments(text: Text) -> tuple[RoleAssignment, ...]:
    out: list[RoleAssignment] = []
    for a in _items(text, "role_assignments"):
        role = a.get("role")
        if isinstance(role, dict) and _str(role, "id"):
            out.append(RoleAssignment(_str(role, "id"), _str(role, "name"), text.source))
    return tuple(out)


FUZZ_TARGETS: list[Callable[[Text], Any]] = [
    parse_catalog, parse_routers, parse_agents, parse_compute_services, parse_hypervisors, parse_images,
    parse_users, parse_projects, parse_role_assignments,
]


# -- loaders -----------------------------------------------------------------------------------------
def cloud_view(view: HostView) -> CloudView:
    if not isinstance(view, CloudView):
        raise NotApplicable("needs an OpenStack API connection (`stackrx cloud`)")
    return view


def load_catalog(view: HostView) -> Catalog:
    return parse_catalog(cloud_view(view).get("identity", "/auth/catalog"))


def require_service(catalog: Catalog, service_type: str) -> None:
    if service_type not in catalog.types():
        raise NotApplicable(f"no {service_type} service in the catalog")


def load_routers(view: HostView) -> tuple[Router, ...]:
    api = cloud_view(view)
    routers: list[Router] = []
    params: dict[str, str] = {}
    for _ in range(MAX_PAGES):
        page = parse_routers(api.get("network", "/routers", params or None))
        routers.extend(page.routers)
        if not page.next_marker or not page.routers:
            break
        params = {"marker": page.next_marker}
    return tuple(routers)


def load_agents(view: HostView) -> tuple[Agent, ...]:
    return parse_agents(cloud_view(view).get("network", "/agents"))


def load_ha_bindings(view: HostView, router_ids: tuple[str, ...]) -> dict[str, tuple[Agent, ...]]:
    """L3 agents hosting each of these routers (one call per router, a few in flight at once)."""
    api = cloud_view(view)

    def hosting(router_id: str) -> tuple[Agent, ...]:
        return parse_agents(api.get("network", f"/routers/{router_id}/l3-agents"))

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(router_ids, pool.map(hosting, router_ids), strict=True))


def load_compute_services(view: HostView) -> tuple[ComputeService, ...]:
    return parse_compute_services(cloud_view(view).get("compute", "/os-services", microversion=NOVA_MICROVERSION))


def load_hypervisors(view: HostView) -> tuple[Hypervisor, ...]:
    return parse_hypervisors(cloud_view(view).get("compute", "/os-hypervisors/detail",
                                                  microversion=NOVA_MICROVERSION))


def load_images(view: HostView) -> tuple[Image, ...]:
    api = cloud_view(view)
    images: list[Image] = []
    params = {"limit": PAGE_SIZE}
    for _ in range(MAX_PAGES):
        page = parse_images(api.get("image", "/images", params))
        images.extend(page.images)
        if not page.next_marker or not page.images:
            break
        params = {"limit": PAGE_SIZE, "marker": page.next_marker}
    return tuple(images)


def load_users_named(view: HostView, name: str) -> UserListing:
    return parse_users(cloud_view(view).get("identity", "/users", {"name": name}))


def load_projects_named(view: HostView, name: str) -> tuple[IdentityItem, ...]:
    return parse_projects(cloud_view(view).get("identity", "/projects", {"name": name}))


def load_role_assignments(view: HostView, user_id: str, project_id: str) -> tuple[RoleAssignment, ...]:
    # `effective` expands group memberships and inherited roles: a role reached through a group counts.
    return parse_role_assignments(cloud_view(view).get("identity", "/role_assignments", {
        "user.id": user_id, "scope.project.id": project_id, "effective": "", "include_names": "true"}))
