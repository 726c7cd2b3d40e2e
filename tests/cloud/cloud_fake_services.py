"""Compute, network and image APIs for the `cloud` tests: stdlib HTTP servers answering the documented JSON.

Nova, Neutron and Glance cannot run here, so each is a small server on its own loopback port, registered in
the real Keystone's catalog like the real service would be. openstacksdk finds them through the catalog,
runs its version discovery against them, then calls the paths below. Bodies follow the api-ref samples
(nova doc/api_samples/os-services/v2.53, os-hypervisors; neutron-lib api-ref samples/agents and routers;
glance api-ref samples/images-list-response.json and versions): same field names, same shapes.

The state is plain data that a test edits, then `reset()` restores the default scenario.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROUTER_SPLIT = "5f1a7b4e-6c1d-4b9e-9d3e-2a7c8e1f0a01"
ROUTER_OK = "8e3c2d1b-0a9f-4e8d-8c7b-6a5f4e3d2c02"
ROUTER_LEGACY = "c0ffee00-1111-4222-8333-944455556603"
AGENT_L3_NET1 = "a1000000-0000-4000-8000-000000000001"
AGENT_L3_NET2 = "a1000000-0000-4000-8000-000000000002"
AGENT_DHCP_NET2 = "a1000000-0000-4000-8000-000000000003"
AGENT_OVS_NET1 = "a1000000-0000-4000-8000-000000000004"
AGENT_OVS_GONE = "a1000000-0000-4000-8000-000000000005"
AGENT_META_OFF = "a1000000-0000-4000-8000-000000000006"
IMAGE_QCOW2 = "1bea47ed-f6a9-463b-b423-14b9cca9ad27"
IMAGE_VMDK = "781b3762-9469-4cec-b58d-3349e5de4e9c"
IMAGE_VMDK_VMWARE = "0d7a1f2e-3b4c-4d5e-8f90-a1b2c3d4e5f6"
IMAGE_QUEUED = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
PAGE_LIMIT = 2  # like glance's api_limit_max, small so the client must follow `next`


def _ts(delta: timedelta, sep: str = " ") -> str:
    return (datetime.now(UTC) - delta).strftime(f"%Y-%m-%d{sep}%H:%M:%S")


def _agent(ident: str, agent_type: str, binary: str, host: str, *, alive: bool = True, admin: bool = True,
           silent: timedelta = timedelta(seconds=20), mode: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"log_agent_heartbeats": False}
    if mode is not None:
        config.update({"agent_mode": mode, "handle_internal_only_routers": True, "routers": 2,
                       "interface_driver": "openvswitch"})
    return {
        "binary": binary, "description": None, "availability_zone": "nova", "heartbeat_timestamp": _ts(silent),
        "admin_state_up": admin, "alive": alive, "id": ident, "topic": "l3_agent" if mode else "N/A",
        "host": host, "agent_type": agent_type, "resource_versions": {}, "created_at": "2026-01-10 08:10:58",
        "started_at": "2026-01-10 08:10:58", "configurations": config,
    }


def _router(ident: str, name: str, *, ha: bool) -> dict[str, Any]:
    return {
        "admin_state_up": True, "availability_zone_hints": [], "availability_zones": ["nova"], "description": "",
        "distributed": False, "external_gateway_info": {
            "enable_snat": True, "network_id": "ae34051f-aa6c-4c75-abf5-50dc9ac99ef3",
            "external_fixed_ips": [{"ip_address": "172.24.4.3", "subnet_id": "b930d7f6-ceb7-40a0-8b81-a425dd994ccf"}]},
        "ha": ha, "id": ident, "name": name, "revision_number": 1, "routes": [], "status": "ACTIVE",
        "project_id": "0bd18306d801447bb457a46252d82d13", "tenant_id": "0bd18306d801447bb457a46252d82d13",
    }


def _service(ident: str, binary: str, host: str, *, state: str = "up", status: str = "enabled",
             silent: timedelta = timedelta(seconds=15), forced_down: bool = False) -> dict[str, Any]:
    return {"id": ident, "binary": binary, "disabled_reason": None if status == "enabled" else "maintenance",
            "host": host, "state": state, "status": status, "updated_at": _ts(silent, "T") + ".000000",
            "forced_down": forced_down, "zone": "nova" if binary == "nova-compute" else "internal"}


def _hypervisor(ident: int, host: str, hv_type: str = "QEMU") -> dict[str, Any]:
    return {"cpu_info": "{}", "current_workload": 0, "status": "enabled", "state": "up",
            "disk_available_least": 0, "host_ip": "10.0.0.31", "free_disk_gb": 1028, "free_ram_mb": 7680,
            "hypervisor_hostname": host, "hypervisor_type": hv_type, "hypervisor_version": 8002000, "id": ident,
            "local_gb": 1028, "local_gb_used": 0, "memory_mb": 8192, "memory_mb_used": 512, "running_vms": 0,
            "service": {"host": host, "id": ident + 10, "disabled_reason": None}, "vcpus": 2, "vcpus_used": 0}


def _image(ident: str, name: str, disk_format: str, status: str = "active", **extra: str) -> dict[str, Any]:
    return {"status": status, "name": name, "tags": [], "container_format": "bare",
            "created_at": "2026-11-07T17:07:06Z", "disk_format": disk_format, "updated_at": "2026-11-07T17:19:09Z",
            "visibility": "public", "self": f"/v2/images/{ident}", "min_disk": 0, "protected": False, "id": ident,
            "file": f"/v2/images/{ident}/file", "checksum": "64d7c1cd2b6f60c92c14662941cb7913",
            "os_hash_algo": "sha512", "os_hash_value": "073b4523", "owner": "5ef70662f8b34079a6eddb8da9d75fe8",
            "size": 13167616, "min_ram": 0, "schema": "/v2/schemas/image", "virtual_size": None, **extra}


def default_state() -> dict[str, Any]:
    """The faulty scenario: split-brain router beside a healthy one, an agent and a compute down, a vmdk."""
    l3_1 = _agent(AGENT_L3_NET1, "L3 agent", "neutron-l3-agent", "network-1", mode="legacy")
    l3_2 = _agent(AGENT_L3_NET2, "L3 agent", "neutron-l3-agent", "network-2", mode="legacy")
    return {
        "agents": [
            l3_1, l3_2,
            _agent(AGENT_DHCP_NET2, "DHCP agent", "neutron-dhcp-agent", "network-2", alive=False,
                   silent=timedelta(minutes=12)),
            _agent(AGENT_OVS_NET1, "Open vSwitch agent", "neutron-openvswitch-agent", "network-1"),
            _agent(AGENT_OVS_GONE, "Open vSwitch agent", "neutron-openvswitch-agent", "old-compute-9",
                   alive=False, silent=timedelta(days=200)),
            _agent(AGENT_META_OFF, "Metadata agent", "neutron-metadata-agent", "network-3", alive=False,
                   admin=False, silent=timedelta(days=3)),
        ],
        "routers": [_router(ROUTER_SPLIT, "r-split", ha=True), _router(ROUTER_OK, "r-ok", ha=True),
                    _router(ROUTER_LEGACY, "r-legacy", ha=False)],
        "l3_agents": {
            ROUTER_SPLIT: [{**l3_1, "ha_state": "active"}, {**l3_2, "ha_state": "active"}],
            ROUTER_OK: [{**l3_1, "ha_state": "active"}, {**l3_2, "ha_state": "standby"}],
            ROUTER_LEGACY: [{**l3_1, "ha_state": None}],
        },
        "services": [
            _service("c4726392-27de-4ff9-b2e0-5aa1d08a520f", "nova-scheduler", "controller-1"),
            _service("e81d66a4-ddd3-4aba-8a84-171d1cb4d339", "nova-conductor", "controller-1"),
            _service("bbd684ff-d3f6-492e-a30a-a12a2d2db0e0", "nova-compute", "compute-1"),
            _service("13aa304e-5340-45a7-a7fb-b6d6e914d272", "nova-compute", "compute-2", state="down",
                     silent=timedelta(minutes=40)),
            _service("2f0e3c1d-8b7a-4c6d-9e5f-4a3b2c1d0e9f", "nova-compute", "compute-3", state="down",
                     status="disabled", silent=timedelta(days=2)),
        ],
        "hypervisors": [_hypervisor(1, "compute-1"), _hypervisor(2, "compute-2"), _hypervisor(3, "compute-3")],
        "images": [
            _image(IMAGE_QCOW2, "cirros-0.6.2-x86_64-disk", "qcow2"),
            _image(IMAGE_VMDK, "wordpress-bitnami-vmdk", "vmdk"),
            _image(IMAGE_VMDK_VMWARE, "win2022-vsphere", "vmdk", hypervisor_type="vmware",
                   vmware_disktype="preallocated"),
            {"status": "queued", "name": "upload-in-progress", "tags": [], "container_format": None,
             "disk_format": None, "visibility": "private", "id": IMAGE_QUEUED, "self": f"/v2/images/{IMAGE_QUEUED}",
             "protected": False, "schema": "/v2/schemas/image"},
        ],
        "fail": {},  # path -> HTTP status to answer instead
    }


@dataclass
class Request:
    service: str
    method: str
    path: str
    token: bool


@dataclass
class FakeCloud:
    """The three fake services; `url(service)` is what goes into the Keystone catalog."""

    state: dict[str, Any] = field(default_factory=default_state)
    requests: list[Request] = field(default_factory=list)
    _servers: dict[str, ThreadingHTTPServer] = field(default_factory=dict)

    def reset(self) -> None:
        self.state = default_state()
        self.requests.clear()

    def start(self) -> None:
        for service in ("compute", "network", "image"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, service))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"fake-{service}", daemon=True).start()
            self._servers[service] = server

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    def base(self, service: str) -> str:
        return f"http://127.0.0.1:{self._servers[service].server_address[1]}"

    def url(self, service: str) -> str:
        return self.base(service) + ("/v2.1" if service == "compute" else "")

    # -- routes ------------------------------------------------------------------------------------------
    def answer(self, service: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        status = self.state["fail"].get(f"{service}:{path}")
        if status:
            return status, {"error": {"message": "injected failure", "code": status}}
        route = getattr(self, f"_{service}")
        return route(path.rstrip("/") or "/", query)  # type: ignore[no-any-return]

    def _compute(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        version = {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
                   "updated": "2013-07-23T11:33:21Z",
                   "links": [{"href": f"{self.base('compute')}/v2.1/", "rel": "self"}],
                   "media-types": [{"base": "application/json",
                                    "type": "application/vnd.openstack.compute+json;version=2.1"}]}
        if path == "/":
            return 200, {"versions": [version]}
        if path == "/v2.1":
            return 200, {"version": version}
        if path == "/v2.1/os-services":
            return 200, {"services": self.state["services"]}
        if path == "/v2.1/os-hypervisors/detail":
            return 200, {"hypervisors": self.state["hypervisors"]}
        return 404, {"itemNotFound": {"message": "not found", "code": 404}}

    def _network(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/":
            return 200, {"versions": [{"status": "CURRENT", "id": "v2.0",
                                       "links": [{"href": f"{self.base('network')}/v2.0/", "rel": "self"}]}]}
        if path == "/v2.0":
            return 200, {"resources": [{"name": "router", "collection": "routers", "links": []}]}
        if path == "/v2.0/agents":
            return 200, {"agents": self.state["agents"]}
        if path == "/v2.0/routers":
            return 200, {"routers": self.state["routers"]}
        parts = path.split("/")
        if len(parts) == 5 and parts[2] == "routers" and parts[4] == "l3-agents" \
                and parts[3] in self.state["l3_agents"]:
            return 200, {"agents": self.state["l3_agents"][parts[3]]}
        return 404, {"NeutronError": {"type": "HTTPNotFound", "message": "not found", "detail": ""}}

    def _image(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/":
            versions = [{"id": f"v2.{n}", "status": "CURRENT" if n == 16 else "SUPPORTED",
                         "links": [{"href": f"{self.base('image')}/v2/", "rel": "self"}]} for n in range(16, -1, -1)]
            return 300, {"versions": versions}
        if path == "/v2/images":
            images = self.state["images"]
            marker = query.get("marker", [""])[0]
            start = next((i + 1 for i, img in enumerate(images) if img["id"] == marker), 0) if marker else 0
            limit = min(int(query.get("limit", [str(PAGE_LIMIT)])[0]), PAGE_LIMIT)
            page = images[start:start + limit]
            body: dict[str, Any] = {"images": page, "schema": "/v2/schemas/images", "first": "/v2/images"}
            if start + limit < len(images):
                body["next"] = f"/v2/images?marker={page[-1]['id']}&limit={limit}"
            return 200, body
        return 404, {"message": "not found", "code": "404 Not Found"}


def _handler(cloud: FakeCloud, service: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            cloud.requests.append(Request(service, "GET", parts.path, bool(self.headers.get("X-Auth-Token"))))
            status, body = cloud.answer(service, parts.path, parse_qs(parts.query, keep_blank_values=True))
            data = json.dumps(copy.deepcopy(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _refuse(self) -> None:
            cloud.requests.append(Request(service, self.command, urlsplit(self.path).path, False))
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: pytest shows failures, not access logs."""

    return Handler
