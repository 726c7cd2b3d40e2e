"""API parsers on the api-ref samples, their robustness, and the endpoint probe against real sockets."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keystoneauth1.session import Session

from fuzzing import cases, corpus
from stackrx.cloud.api import facts
from stackrx.cloud.api.facts import Endpoint
from stackrx.cloud.api.probe import probe, probe_url
from stackrx.cloud.api.runner import api_checks
from stackrx.engine import ScanOptions, load_all_checks, run_check
from stackrx.errors import ParseError
from stackrx.facts import Facts
from stackrx.models import Status
from stackrx.runner import run_scan
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

# neutron-lib api-ref/source/v2/samples/agents/router-l3-agent-list-response.json (trimmed)
L3_AGENTS = """{"agents": [{"binary": "neutron-l3-agent", "description": null, "availability_zone": "nova",
 "heartbeat_timestamp": "2018-04-08 07:32:42", "admin_state_up": true, "alive": true, "topic": "l3_agent",
 "host": "mkm-instance01", "ha_state": null, "agent_type": "L3 agent", "resource_versions": {},
 "created_at": "2018-03-11 08:10:58", "started_at": "2018-03-11 08:10:58",
 "id": "b64f5c61-2210-41a6-869f-b51d7914511e",
 "configurations": {"agent_mode": "legacy", "gateway_external_network_id": "", "routers": 3}}]}"""

# neutron-lib samples/agents/agents-list-response.json: note the sample's id with a leading blank
AGENTS = """{"agents": [{"binary": "neutron-openvswitch-agent", "description": null, "availability_zone": null,
 "heartbeat_timestamp": "2017-09-12 19:40:08", "admin_state_up": true, "alive": true,
 "id": " 04c62b91-b799-48b7-9cd5-2982db6df9c6", "topic": "N/A", "host": "agenthost1",
 "agent_type": "Open vSwitch agent", "configurations": {"bridge_mappings": {"public": "br-ex"}}},
 {"binary": "neutron-dhcp-agent", "heartbeat_timestamp": "2017-09-12 19:39:56", "admin_state_up": true,
 "alive": false, "id": "840d5d68-5759-4e9e-812f-f3bd19214c7f", "host": "agenthost1", "agent_type": "DHCP agent",
 "configurations": {"subnets": 2}}]}"""

# nova doc/api_samples/os-services/v2.53/services-list-get-resp.json (two of four)
SERVICES = """{"services": [{"id": "c4726392-27de-4ff9-b2e0-5aa1d08a520f", "binary": "nova-scheduler",
 "disabled_reason": "test1", "host": "host1", "state": "up", "status": "disabled",
 "updated_at": "2012-10-29T13:42:02.000000", "forced_down": false, "zone": "internal"},
 {"id": "bbd684ff-d3f6-492e-a30a-a12a2d2db0e0", "binary": "nova-scheduler", "disabled_reason": null,
 "host": "host2", "state": "down", "status": "enabled", "updated_at": "2012-09-19T06:55:34.000000",
 "forced_down": false, "zone": "internal"}]}"""

# glance api-ref/source/v2/samples/images-list-response.json (one image; the sample's missing comma fixed)
IMAGES = """{"images": [{"status": "active", "name": "cirros-0.3.2-x86_64-disk", "tags": [],
 "container_format": "bare", "created_at": "2014-11-07T17:07:06Z", "disk_format": "qcow2",
 "updated_at": "2014-11-07T17:19:09Z", "visibility": "public",
 "self": "/v2/images/1bea47ed-f6a9-463b-b423-14b9cca9ad27", "min_disk": 0, "protected": false,
 "id": "1bea47ed-f6a9-463b-b423-14b9cca9ad27", "file": "/v2/images/1bea47ed-f6a9-463b-b423-14b9cca9ad27/file",
 "checksum": "64d7c1cd2b6f60c92c14662941cb7913", "os_hash_algo": "sha512", "os_hash_value": "073b45",
 "owner": "5ef70662f8b34079a6eddb8da9d75fe8", "size": 13167616, "min_ram": 0, "schema": "/v2/schemas/image",
 "virtual_size": null, "vmware_disktype": "sparse", "hw_disk_bus": "scsi"}],
 "schema": "/v2/schemas/images", "first": "/v2/images",
 "next": "/v2/images?marker=1bea47ed-f6a9-463b-b423-14b9cca9ad27&limit=1"}"""

CATALOG = """{"catalog": [{"endpoints": [{"id": "39dc322ce86c4111b4f06c2eeae0841b", "interface": "public",
 "region_id": "RegionOne", "url": "http://swift.example.com:8080/v1/AUTH_0123456789abcdef0123456789abcdef",
 "region": "RegionOne"}], "id": "9242e05f0c23467bbd1cf1f7a6e5e596", "type": "object-store", "name": "swift"}],
 "links": {"self": "https://example.com/identity/v3/catalog"}}"""


def T(content: str, source: str = "api:test GET /x") -> Text:
    return Text(source, content)


def test_l3_agents_sample_ha_state_null_is_not_an_ha_binding() -> None:
    (agent,) = facts.parse_agents(T(L3_AGENTS))
    assert agent.ha_state is None
    assert agent.agent_mode == "legacy" and agent.alive and agent.host == "mkm-instance01"
    assert agent.heartbeat == datetime(2018, 4, 8, 7, 32, 42, tzinfo=UTC)


def test_agents_sample_fields() -> None:
    ovs, dhcp = facts.parse_agents(T(AGENTS))
    assert ovs.id == "04c62b91-b799-48b7-9cd5-2982db6df9c6"  # the sample's stray blank is not part of the id
    assert ovs.agent_mode == "" and ovs.alive
    assert not dhcp.alive and dhcp.label == "DHCP agent@agenthost1"
    assert "alive=false" in dhcp.evidence().excerpt


def test_services_sample_fields() -> None:
    up, down = facts.parse_compute_services(T(SERVICES))
    assert (up.state, up.status, up.disabled_reason) == ("up", "disabled", "test1")
    assert (down.state, down.status, down.forced_down) == ("down", "enabled", False)
    assert down.updated_at == datetime(2012, 9, 19, 6, 55, 34, tzinfo=UTC)


def test_images_sample_properties_and_next_marker() -> None:
    page = facts.parse_images(T(IMAGES))
    (image,) = page.images
    assert image.disk_format == "qcow2" and image.status == "active"
    assert image.properties == {"vmware_disktype": "sparse", "hw_disk_bus": "scsi"}
    assert page.next_marker == "1bea47ed-f6a9-463b-b423-14b9cca9ad27"


def test_routers_next_marker_from_routers_links() -> None:
    body = {"routers": [{"id": "r1", "name": "a", "ha": True, "admin_state_up": True, "distributed": False}],
            "routers_links": [{"href": "http://n:9696/v2.0/routers?limit=1&marker=r1", "rel": "next"},
                              {"href": "http://n:9696/v2.0/routers?limit=1&marker=r1&page_reverse=True",
                               "rel": "previous"}]}
    page = facts.parse_routers(T(json.dumps(body)))
    assert page.next_marker == "r1" and page.routers[0].ha is True
    assert facts.parse_routers(T('{"routers": [{"id": "r2"}]}')).routers[0].ha is None


def test_catalog_and_probe_url() -> None:
    (ep,) = facts.parse_catalog(T(CATALOG)).endpoints
    assert (ep.service_type, ep.interface, ep.region) == ("object-store", "public", "RegionOne")
    assert probe_url(ep) == "http://swift.example.com:8080/info"


@pytest.mark.parametrize(("stype", "url", "expected"), [
    ("volumev3", "http://c:8776/v3/0123456789abcdef0123456789abcdef", "http://c:8776/v3/"),
    ("compute", "http://n:8774/v2.1/%(tenant_id)s", "http://n:8774/v2.1/"),
    ("identity", "https://k:5000/v3/", "https://k:5000/v3/"),
    ("image", "http://g:9292", "http://g:9292/"),
    ("compute", "http://n:8774/v2.1?x=1", "http://n:8774/v2.1"),
])
def test_probe_url_drops_the_project_part(stype: str, url: str, expected: str) -> None:
    assert probe_url(Endpoint(stype, "", "public", "", url, "id", "src")) == expected


@pytest.mark.parametrize("content", ["", "[]", "{", '{"agents": 3}', "null", '"x"', "[" * 100_000])
def test_parsers_reject_non_documents_with_parse_error(content: str) -> None:
    for parser in facts.FUZZ_TARGETS:
        with pytest.raises(ParseError) as exc:
            parser(T(content, "api:network GET /v2.0/agents"))
        assert exc.value.source == "api:network GET /v2.0/agents"


def test_parsers_survive_the_shared_fuzz_cases() -> None:
    real = corpus()
    for parser in facts.FUZZ_TARGETS:
        for n, content in enumerate(cases(seed=77, count=120, real=real)):
            with contextlib.suppress(ParseError):
                parser(T(content, f"fuzz/{n}"))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=6), max_leaves=25)
KEYS = ["catalog", "routers", "agents", "services", "hypervisors", "images", "users", "projects",
        "role_assignments", "next", "routers_links", "endpoints", "ha_state", "alive", "heartbeat_timestamp",
        "updated_at", "disk_format", "role", "id", "configurations", "locations"]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), st.lists(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=8)) | JSON,
                       max_size=6))
def test_parsers_tolerate_wrongly_typed_fields(doc: dict[str, Any]) -> None:
    """Right keys, wrong types (the shape a proxy or an old release may send): facts or ParseError only."""
    for parser in facts.FUZZ_TARGETS:
        with contextlib.suppress(ParseError):
            parser(T(json.dumps(doc)))


# -- the probe against real sockets -------------------------------------------------------------------
@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, dict[str, int]]]:
    """Answers GET with the status stored under its path (default 200); records nothing else."""
    statuses: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses.get(self.path, 200))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", statuses
    server.shutdown()
    server.server_close()


def _ep(url: str, stype: str = "object-store") -> Endpoint:
    return Endpoint(stype, "swift", "public", "RegionOne", url, "e1", "api:identity GET /auth/catalog")


@pytest.mark.parametrize(("status", "served"), [(200, True), (401, True), (404, True), (300, True),
                                                 (503, False), (502, False), (500, False)])
def test_probe_http_statuses(http_server: tuple[str, dict[str, int]], status: int, served: bool) -> None:
    base, statuses = http_server
    statuses["/info"] = status
    result = probe(Session(), _ep(f"{base}/v1/AUTH_0123456789abcdef0123456789abcdef"), 2.0)
    assert result.url == f"{base}/info"
    assert (result.served, result.status) == (served, status)
    if status == 503:
        assert "HTTP 503 (a proxy with no healthy backend?)" in result.reason


def test_probe_refused_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = probe(Session(), _ep(f"http://127.0.0.1:{port}/v1/AUTH_x"), 1.0)
    assert not result.served and result.status is None
    assert result.reason == f"nothing accepts TCP on 127.0.0.1:{port}: connection refused"


def test_probe_port_that_accepts_and_never_speaks_http() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        result = probe(Session(), _ep(f"http://127.0.0.1:{port}/", "network"), 0.5)
    finally:
        listener.close()
    assert not result.served and result.status is None
    assert "accepts TCP but GET" in result.reason and "no HTTP answer" in result.reason
    assert result.seconds < 5


def test_probe_bad_url() -> None:
    result = probe(Session(), _ep("ftp://x/y"), 0.5)
    assert not result.served and "not an http(s) URL" in result.reason


# -- registration and node scans ----------------------------------------------------------------------
CLOUD_IDS = {"STO-001", "HA-F01", "CLD-001", "CLD-002", "IMG-001", "IMG-002", "UPG-004"}


def test_cloud_checks_are_api_only_and_documented() -> None:
    registry = {reg.meta.id: reg for reg in api_checks([], [])}
    assert registry.keys() == CLOUD_IDS
    assert load_all_checks().keys() >= CLOUD_IDS - {"IMG-002"}  # IMG-002's registration is the node half's
    for cid in CLOUD_IDS:
        meta = registry[cid].meta
        assert meta.modes == (["api", "fleet"] if cid == "HA-F01" else ["api"]), cid
        assert meta.reads.get("api"), cid
        assert meta.remediation and meta.tale and meta.references, cid


def test_node_scan_of_compute4_does_not_run_cloud_checks(compute4: Any) -> None:
    report = run_scan(str(compute4))
    assert report.results
    assert not {r.check_id for r in report.results} & (CLOUD_IDS - {"IMG-002"})
    assert not [r for r in report.results if r.check_id == "IMG-002" and r.resource.startswith("image ")]


def test_cloud_checks_skip_on_a_node_view(compute4: Any) -> None:
    """Run directly on the real node's view (as a fleet runner might): skipped, never an error."""
    view = SosReportView(compute4)
    for reg in api_checks([], []):
        (result,) = run_check(reg, view, Facts(view), ScanOptions())
        cid = reg.meta.id
        assert result.status is Status.skipped, (cid, result.message)
