"""The API checks against a real Keystone and the fake compute/network/image services it catalogs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cloud_fake_services import (
    AGENT_DHCP_NET2,
    AGENT_L3_NET2,
    IMAGE_QCOW2,
    IMAGE_VMDK,
    IMAGE_VMDK_VMWARE,
    ROUTER_LEGACY,
    ROUTER_OK,
    ROUTER_SPLIT,
)
from cloud_setup import CloudEnv

from stackrx.cloud.api.runner import run_cloud
from stackrx.cloud.api.view import CloudOptions
from stackrx.models import Result, Severity, Status


def run(*only: str, **options: Any) -> list[Result]:
    return run_cloud(CloudOptions(cloud="testcloud", **options), only=list(only)).results


def by_resource(results: list[Result]) -> dict[str, Result]:
    return {r.resource: r for r in results}


def outcome(r: Result) -> tuple[Status, Severity]:
    return r.status, r.severity


def findings(results: list[Result]) -> list[Result]:
    return [r for r in results if r.status in (Status.fail, Status.warn)]


def _agent(cloud: CloudEnv, ident: str) -> dict[str, Any]:
    return next(a for a in cloud.fake.state["agents"] if a["id"] == ident)


# -- the whole run --------------------------------------------------------------------------------------
def test_full_run_reads_only_with_a_token_and_reports_each_story(cloud: CloudEnv) -> None:
    report = run_cloud(CloudOptions(cloud="testcloud"))
    assert [h.name for h in report.hosts] == ["cloud:testcloud"]
    assert report.hosts[0].kind == "api"
    assert report.hosts[0].facts["cloud"]["services"] == ["compute", "identity", "image", "network", "object-store"]
    assert {r.host for r in report.results} == {"cloud:testcloud"}
    assert not [r for r in report.results if r.status in (Status.error, Status.skipped)]
    failed = {(r.check_id, r.severity) for r in findings(report.results)}
    assert failed >= {("STO-001", Severity.high), ("HA-F01", Severity.critical), ("CLD-001", Severity.high),
                      ("CLD-002", Severity.high), ("IMG-001", Severity.medium), ("UPG-004", Severity.high)}
    assert report.hosts[0].metrics["api_ha_routers_not_single_active"] == 1.0
    assert {r.method for r in cloud.fake.requests} == {"GET"}
    api_calls = [r for r in cloud.fake.requests if r.path not in ("/", "/v2.1", "/info")]
    assert api_calls and all(r.token for r in api_calls)


def test_os_variables_work_like_clouds_yaml(cloud: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    for key, value in cloud.os_env().items():
        monkeypatch.setenv(key, value)
    report = run_cloud(CloudOptions(), only=["HA-F01"])
    assert report.hosts[0].name == "cloud:envvars"
    assert outcome(by_resource(report.results)[f"router {ROUTER_SPLIT}"]) == (Status.fail, Severity.critical)


# -- STO-001 ------------------------------------------------------------------------------------------
def test_sto001_dead_object_store_fails_and_keystone_passes(cloud: CloudEnv) -> None:
    results = run("STO-001")
    store = [r for r in results if r.resource.startswith("object-store ")]
    public = next(r for r in store if r.resource.startswith("object-store public "))
    assert outcome(public) == (Status.fail, Severity.high)
    assert f"nothing accepts TCP on 127.0.0.1:{cloud.dead_port}: connection refused" in public.message
    assert public.evidence[0].source == f"probe:http://127.0.0.1:{cloud.dead_port}/info"
    assert public.evidence[1].source == "api:identity GET /v3/auth/catalog"
    assert "object-store (swift) public RegionOne" in public.evidence[1].excerpt
    others = [r for r in store if r is not public]
    assert len(others) == 2 and all(outcome(r) == (Status.warn, Severity.medium) for r in others)
    assert "may not be routable from this host" in others[0].message
    identity = [r for r in results if r.resource.startswith("identity ")]
    assert len(identity) == 3 and all(r.status is Status.passed for r in identity)
    assert "answered HTTP 200" in identity[0].message
    served = {r.resource.split()[0] for r in results if r.status is Status.passed}
    assert served == {"identity", "compute", "network", "image"}


def test_sto001_probes_send_no_token(cloud: CloudEnv) -> None:
    run("STO-001")  # no other check: every request the fake services see is a probe
    assert cloud.fake.requests and not any(r.token for r in cloud.fake.requests)


def test_sto001_client_interface_decides_the_severity(cloud: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OS_CLIENT_CONFIG_FILE")
    for key, value in {**cloud.os_env(), "OS_INTERFACE": "internal"}.items():
        monkeypatch.setenv(key, value)
    store = {r.resource.split()[1]: r for r in run_cloud(CloudOptions(), only=["STO-001"]).results
             if r.resource.startswith("object-store")}
    assert outcome(store["internal"]) == (Status.fail, Severity.high)
    assert outcome(store["public"]) == (Status.warn, Severity.medium)


def test_sto001_proxy_without_backend(cloud: CloudEnv) -> None:
    cloud.fake.state["fail"]["network:/"] = 503
    network = [r for r in run("STO-001") if r.resource.startswith("network public")]
    assert outcome(network[0]) == (Status.fail, Severity.high)
    assert "answered HTTP 503 (a proxy with no healthy backend?)" in network[0].message


# -- HA-F01 -------------------------------------------------------------------------------------------
def test_ha_split_brain_is_critical_and_the_healthy_router_passes(cloud: CloudEnv) -> None:
    results = by_resource(run("HA-F01"))
    split = results[f"router {ROUTER_SPLIT}"]
    assert outcome(split) == (Status.fail, Severity.critical)
    assert "2 alive L3 agents report ha_state=active (network-1, network-2)" in split.message
    assert {e.source for e in split.evidence} == {f"api:network GET /v2.0/routers/{ROUTER_SPLIT}/l3-agents"}
    assert any("host=network-2" in e.excerpt and "ha_state=active" in e.excerpt for e in split.evidence)
    ok = results[f"router {ROUTER_OK}"]
    assert ok.status is Status.passed and "active on network-1, standby on network-2" in ok.message
    assert f"router {ROUTER_LEGACY}" not in results  # not an HA router


def test_ha_all_healthy(cloud: CloudEnv) -> None:
    bindings = cloud.fake.state["l3_agents"][ROUTER_SPLIT]
    bindings[1]["ha_state"] = "standby"
    assert not findings(run("HA-F01"))


def test_ha_dead_agent_claiming_active_is_stale_not_split_brain(cloud: CloudEnv) -> None:
    _agent(cloud, AGENT_L3_NET2)["alive"] = False
    for bindings in cloud.fake.state["l3_agents"].values():
        for b in bindings:
            if b["id"] == AGENT_L3_NET2:
                b["alive"] = False
    cloud.fake.state["l3_agents"][ROUTER_OK][0]["ha_state"] = "standby"
    cloud.fake.state["l3_agents"][ROUTER_OK][1]["ha_state"] = "active"
    results = by_resource(run("HA-F01"))
    assert results[f"router {ROUTER_SPLIT}"].status is Status.passed
    ok = results[f"router {ROUTER_OK}"]
    assert outcome(ok) == (Status.fail, Severity.high)
    assert "only dead agent(s) on network-2 still claim active (stale state)" in ok.message


def test_ha_no_active_instance_is_high(cloud: CloudEnv) -> None:
    for b in cloud.fake.state["l3_agents"][ROUTER_OK]:
        b["ha_state"] = "standby"
    ok = by_resource(run("HA-F01"))[f"router {ROUTER_OK}"]
    assert outcome(ok) == (Status.fail, Severity.high)
    assert "no alive L3 agent reports ha_state=active among 2 binding(s)" in ok.message


def test_ha_admin_down_router_without_active_is_fine(cloud: CloudEnv) -> None:
    for b in cloud.fake.state["l3_agents"][ROUTER_OK]:
        b["ha_state"] = "standby"
    cloud.fake.state["routers"][1]["admin_state_up"] = False
    assert by_resource(run("HA-F01"))[f"router {ROUTER_OK}"].status is Status.passed


def test_ha_single_binding_is_medium(cloud: CloudEnv) -> None:
    cloud.fake.state["l3_agents"][ROUTER_OK] = cloud.fake.state["l3_agents"][ROUTER_OK][:1]
    ok = by_resource(run("HA-F01"))[f"router {ROUTER_OK}"]
    assert outcome(ok) == (Status.warn, Severity.medium)
    assert "bound to a single L3 agent (network-1) although 2 eligible agents are alive" in ok.message


def test_ha_dvr_bindings_without_ha_state_are_ignored(cloud: CloudEnv) -> None:
    dvr = {**cloud.fake.state["l3_agents"][ROUTER_OK][0], "id": "d0000000-0000-4000-8000-000000000001",
           "host": "compute-1", "ha_state": None, "configurations": {"agent_mode": "dvr"}}
    cloud.fake.state["l3_agents"][ROUTER_OK].append(dvr)
    cloud.fake.state["l3_agents"][ROUTER_SPLIT][1]["ha_state"] = "standby"
    assert not findings(run("HA-F01"))


def test_ha_not_applicable_without_l3_agents(cloud: CloudEnv) -> None:
    cloud.fake.state["agents"] = [a for a in cloud.fake.state["agents"] if a["agent_type"] != "L3 agent"]
    (result,) = run("HA-F01")
    assert result.status is Status.skipped and "no neutron L3 agent" in result.message


def test_ha_needs_the_ha_attribute(cloud: CloudEnv) -> None:
    for router in cloud.fake.state["routers"]:
        del router["ha"]
    (result,) = run("HA-F01")
    assert result.status is Status.skipped
    assert "routers carry no `ha` attribute" in result.message


# -- CLD-001 / CLD-002 ----------------------------------------------------------------------------------
def test_cld001_agent_down(cloud: CloudEnv) -> None:
    results = by_resource(run("CLD-001"))
    dhcp = results["agent DHCP agent@network-2"]
    assert outcome(dhcp) == (Status.fail, Severity.high)
    assert "is down (last heartbeat 12 min ago)" in dhcp.message
    assert dhcp.evidence[0].source == "api:network GET /v2.0/agents"
    assert f"agent {AGENT_DHCP_NET2}" in dhcp.evidence[0].excerpt
    gone = results["agent Open vSwitch agent@old-compute-9"]
    assert outcome(gone) == (Status.warn, Severity.low) and "200 days ago" in gone.message
    assert results["agent Metadata agent@network-3"].status is Status.passed  # disabled on purpose


def test_cld001_all_alive(cloud: CloudEnv) -> None:
    for agent in cloud.fake.state["agents"]:
        agent["alive"] = True
    results = run("CLD-001")
    assert not findings(results)
    assert results[0].message == "every enabled neutron agent is alive (6 alive, 1 disabled)"


def test_cld001_stale_days_option(cloud: CloudEnv) -> None:
    results = by_resource(run("CLD-001", stale_days=365))
    assert outcome(results["agent Open vSwitch agent@old-compute-9"]) == (Status.fail, Severity.high)


def test_cld002_compute_down(cloud: CloudEnv) -> None:
    results = run("CLD-002")
    (down,) = findings(results)
    assert outcome(down) == (Status.fail, Severity.high)
    assert down.resource == "service nova-compute@compute-2"
    assert "is down and enabled (last report 40 min ago)" in down.message
    assert down.evidence[0].source == "api:compute GET /v2.1/os-services"
    assert "state=down status=enabled" in down.evidence[0].excerpt


def test_cld002_forced_down_and_stale(cloud: CloudEnv) -> None:
    services = cloud.fake.state["services"]
    services[3]["forced_down"] = True
    services[2].update(state="down", updated_at=(datetime.now(UTC) - timedelta(days=90)).strftime(
        "%Y-%m-%dT%H:%M:%S.000000"))
    results = by_resource(run("CLD-002"))
    assert outcome(results["service nova-compute@compute-2"]) == (Status.warn, Severity.medium)
    assert outcome(results["service nova-compute@compute-1"]) == (Status.warn, Severity.low)


def test_cld002_healthy(cloud: CloudEnv) -> None:
    cloud.fake.state["services"][3]["state"] = "up"
    (result,) = run("CLD-002")
    assert result.status is Status.passed
    assert result.message == "no enabled nova service is down (4 up, 1 disabled)"


def test_checks_skip_when_the_service_is_not_in_the_catalog(cloud: CloudEnv) -> None:
    conn = cloud.admin()
    service = conn.identity.find_service("neutron")
    conn.identity.update_service(service, is_enabled=False)  # a disabled service leaves the token's catalog
    try:
        results = {r.check_id: r for r in run("HA-F01", "CLD-001")}
    finally:
        conn.identity.update_service(service, is_enabled=True)
        conn.close()
    for cid in ("HA-F01", "CLD-001"):
        assert results[cid].status is Status.skipped
        assert results[cid].message == "not applicable: no network service in the catalog"


def test_cld002_api_failure_is_an_error_not_a_crash(cloud: CloudEnv) -> None:
    cloud.fake.state["fail"]["compute:/v2.1/os-services"] = 503
    (result,) = run("CLD-002")
    assert result.status is Status.error
    assert result.message.startswith("API call failed: api:compute GET /v2.1/os-services: HTTP 503")


def test_forbidden_call_is_skipped_naming_it(cloud: CloudEnv) -> None:
    cloud.fake.state["fail"]["network:/v2.0/agents"] = 403
    (result,) = run("CLD-001")
    assert result.status is Status.skipped
    assert result.message == "input missing: api:network GET /v2.0/agents: HTTP 403 (needs admin credentials)"


# -- IMG-001 / IMG-002 ----------------------------------------------------------------------------------
def test_img001_vmdk_flagged_qcow2_not(cloud: CloudEnv) -> None:
    results = run("IMG-001")
    (vmdk,) = findings(results)
    assert outcome(vmdk) == (Status.warn, Severity.medium)
    assert vmdk.resource == f"image {IMAGE_VMDK}"
    assert "'wordpress-bitnami-vmdk' is vmdk: each KVM compute converts it to raw" in vmdk.message
    assert vmdk.evidence[0].source.startswith("api:image GET /v2/images?limit=1000")
    # four images over two pages (the fake serves two per page): the second page was read
    pages = [r for r in cloud.fake.requests if r.path == "/v2/images"]
    assert len(pages) == 2
    assert f"image {IMAGE_VMDK_VMWARE}" not in {r.resource for r in results}  # pinned to VMware


def test_img001_clean_image_list(cloud: CloudEnv) -> None:
    cloud.fake.state["images"] = [i for i in cloud.fake.state["images"] if i["id"] == IMAGE_QCOW2]
    (result,) = run("IMG-001")
    assert result.status is Status.passed and result.message.endswith("1 qcow2")


def test_img001_qcow2_on_rbd(cloud: CloudEnv) -> None:
    cloud.fake.state["images"][0]["direct_url"] = f"rbd://fsid/images/{IMAGE_QCOW2}/snap"
    flagged = {r.resource: r for r in findings(run("IMG-001"))}
    assert set(flagged) == {f"image {IMAGE_QCOW2}", f"image {IMAGE_VMDK}"}
    assert "Ceph RBD: no copy-on-write clone" in flagged[f"image {IMAGE_QCOW2}"].message


def test_img_checks_not_applicable_on_vmware_only(cloud: CloudEnv) -> None:
    for h in cloud.fake.state["hypervisors"]:
        h["hypervisor_type"] = "VMware vCenter Server"
    for result in run("IMG-001", "IMG-002"):
        assert result.status is Status.skipped
        assert "no libvirt/KVM hypervisor (hypervisor types: vmware)" in result.message


@pytest.mark.parametrize(("disktype", "expected"), [
    (None, (Status.warn, Severity.medium)),
    ("streamOptimized", (Status.passed, Severity.info)),
    ("sparse", (Status.passed, Severity.info)),
    ("preallocated", (Status.fail, Severity.high)),
    ("thin", (Status.warn, Severity.medium)),
])
def test_img002_vmdk_subformat(cloud: CloudEnv, disktype: str | None, expected: tuple[Status, Severity]) -> None:
    if disktype:
        cloud.fake.state["images"][1]["vmware_disktype"] = disktype
    results = by_resource(run("IMG-002"))
    assert set(results) == {f"image {IMAGE_VMDK}"}  # the VMware-pinned VMDK is left out
    assert outcome(results[f"image {IMAGE_VMDK}"]) == expected


def test_img002_no_vmdk(cloud: CloudEnv) -> None:
    cloud.fake.state["images"] = cloud.fake.state["images"][:1]
    (result,) = run("IMG-002")
    assert result.status is Status.passed and result.message == "no active VMDK image among 1 image(s)"


# -- UPG-004 ------------------------------------------------------------------------------------------
@pytest.fixture
def rgw_user(cloud: CloudEnv) -> Iterator[Any]:
    """A ceph_rgw user with admin on the service project, deleted afterwards (Keystone is shared)."""
    conn = cloud.admin()
    project = conn.identity.find_project("service")
    user = conn.identity.create_user(name="ceph_rgw", password="rgw-Pa55", domain_id="default")
    role = next(iter(conn.identity.roles(name="admin")))
    conn.identity.assign_project_role_to_user(project, user, role)
    try:
        yield conn, project, user, role
    finally:
        conn.identity.delete_user(user)
        conn.close()


def test_upg004_missing_object_store_user(cloud: CloudEnv) -> None:
    results = by_resource(run("UPG-004"))
    store = results["object-store service user"]
    assert outcome(store) == (Status.fail, Severity.high)
    assert store.message == "object-store is in the catalog but no Keystone user named swift or ceph_rgw exists"
    assert [e.source for e in store.evidence[1:]] == ["api:identity GET /v3/users?name=swift",
                                                      "api:identity GET /v3/users?name=ceph_rgw"]
    for stype, user in (("compute", "nova"), ("network", "neutron"), ("image", "glance")):
        assert results[f"{stype} service user"].message == f"{stype} service user {user} has role admin on service"


def test_upg004_ceph_rgw_user_present(cloud: CloudEnv, rgw_user: Any) -> None:
    store = by_resource(run("UPG-004"))["object-store service user"]
    assert store.status is Status.passed and "ceph_rgw has role admin on service" in store.message


def test_upg004_disabled_user(cloud: CloudEnv, rgw_user: Any) -> None:
    conn, _project, user, _role = rgw_user
    conn.identity.update_user(user, is_enabled=False)
    store = by_resource(run("UPG-004"))["object-store service user"]
    assert outcome(store) == (Status.fail, Severity.high)
    assert store.message == "object-store service user swift or ceph_rgw exists but is disabled"


def test_upg004_user_without_role_on_service(cloud: CloudEnv, rgw_user: Any) -> None:
    conn, project, user, role = rgw_user
    conn.identity.unassign_project_role_from_user(project, user, role)
    store = by_resource(run("UPG-004"))["object-store service user"]
    assert outcome(store) == (Status.fail, Severity.high)
    assert store.message == "object-store service user ceph_rgw has no role on project service"


def test_upg004_service_user_override(cloud: CloudEnv) -> None:
    results = by_resource(run("UPG-004", service_users={"compute": ("nova-custom",), "object-store": ("nova",)}))
    assert outcome(results["compute service user"]) == (Status.warn, Severity.medium)
    assert results["object-store service user"].status is Status.passed
