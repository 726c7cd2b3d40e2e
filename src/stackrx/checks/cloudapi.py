"""Cloud checks run by `stackrx cloud` through the OpenStack APIs: catalog endpoints served (STO-001), one
active L3 agent per HA router (HA-F01, API view), neutron agents down (CLD-001), nova services down
(CLD-002), images KVM must convert (IMG-001), VMDK sub-formats (IMG-002), service users (UPG-004).

Their host view is the cloud (`stackrx.cloud.api.view.CloudView`, host "cloud:<name>"); on a node scan they
do not run. HA-F01's metadata is shared with the fleet run, which judges the node-side half under that id.
CLD-001 and CLD-002 have no entry in the catalogue; they are numbered in its style under the area "cloud".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from stackrx.cloud.api.facts import (
    Hypervisor,
    Image,
    cloud_view,
    load_agents,
    load_catalog,
    load_compute_services,
    load_ha_bindings,
    load_hypervisors,
    load_images,
    load_projects_named,
    load_role_assignments,
    load_routers,
    load_users_named,
    require_service,
)
from stackrx.cloud.api.probe import load_probes
from stackrx.cloud.api.view import ApiError
from stackrx.engine import CheckContext, CheckFn, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

T = TypeVar("T")

API = ["api"]
L3_AGENT = "L3 agent"
HA_MODES = {"legacy", "dvr_snat", ""}  # agents that can hold an HA router's keepalived ("" = mode not reported)

# Conventional Keystone user per catalog service type (Kolla-Ansible, TripleO, devstack, packstack names).
# Kolla's external-RGW integration (ceph-rgw role) registers object-store with the user `ceph_rgw`.
SERVICE_USERS: dict[str, tuple[str, ...]] = {
    "object-store": ("swift", "ceph_rgw"),
    "compute": ("nova",),
    "network": ("neutron",),
    "image": ("glance",),
    "placement": ("placement",),
    "volumev3": ("cinder",),
    "block-storage": ("cinder",),
    "orchestration": ("heat",),
    "metric": ("gnocchi",),
    "alarming": ("aodh",),
    "load-balancer": ("octavia",),
    "dns": ("designate",),
    "key-manager": ("barbican",),
    "baremetal": ("ironic",),
    "sharev2": ("manila",),
    "shared-file-system": ("manila",),
    "container-infra": ("magnum",),
}
SERVICE_PROJECTS = ("service", "services")  # Kolla/TripleO/devstack, packstack/charms

CONVERTED_FORMATS = {"vmdk", "vdi", "vhd", "vhdx"}
CLONEABLE_ON_RBD = {"raw", "iso"}
LIBVIRT_TYPES = {"qemu", "kvm"}
# vmware_disktype values (glance metadef OS::Compute::VMware) whose VMDK create-type is in nova's and
# glance's default vmdk_allowed_types (streamOptimized, monolithicSparse).
ALLOWED_DISKTYPES = {"streamoptimized": "streamOptimized", "sparse": "monolithicSparse"}


def _fleet_id_meta(**fields: Any) -> CheckMeta:
    """CheckMeta for a catalogue fleet id (HA-F01): models.CheckMeta's id pattern (`F?\\d{3}`) rejects F plus
    two digits, so everything else is validated under a stand-in id, then the real id is put back."""
    stand_in = CheckMeta(**{**fields, "id": "HA-999"})
    return stand_in.model_copy(update={"id": fields["id"]})


def _optional(ctx: CheckContext, loader: Callable[..., T]) -> T | None:
    """A corroborating fact: None when its API is absent, refused or failing."""
    try:
        return ctx.facts.get(loader)
    except (MissingEvidence, NotApplicable, ApiError):
        return None


def _age(now: datetime | None, then: datetime | None) -> timedelta | None:
    if now is None or then is None:
        return None
    return max(now - then, timedelta(0))


def _ago(age: timedelta | None) -> str:
    if age is None:
        return "never reported"
    if age >= timedelta(days=2):
        return f"{age.days} days ago"
    if age >= timedelta(hours=2):
        return f"{int(age.total_seconds() // 3600)} h ago"
    return f"{int(age.total_seconds() // 60)} min ago"


def _stale_limit(ctx: CheckContext) -> timedelta:
    return timedelta(days=cloud_view(ctx.view).options.stale_days)


# ------------------------------------------------------------------------------------------------------
@check(CheckMeta(
    id="STO-001",
    title="Catalog endpoint not served (object-store and every other service)",
    severity=Severity.high,
    area="storage",
    tale=(
        "A packstack install registered the Swift endpoint on the controller's address, port 8080, while the "
        "Swift proxy had been installed on the storage node. Every object-store client followed the catalog "
        "to a port where nothing listened; `netstat` on the controller showed the empty port, and the fix was "
        "to recreate the endpoints with the storage node's address."
    ),
    description=(
        "Reads the catalog of the token (`GET /v3/auth/catalog`) and probes every endpoint URL once: a TCP "
        "connect to its host and port, then an unauthenticated GET of its version document (for object-store "
        "`/info`, the Swift capabilities document; for others the endpoint URL with the `%(project_id)s` "
        "part removed), with a short timeout (--probe-timeout). Served = any HTTP answer below 500. Not "
        "served = connection refused or timed out, no HTTP answer, or HTTP 5xx (502/503/504: a load balancer "
        "with no healthy backend). Failures on the interface the client uses (clouds.yaml `interface`, "
        "default public) are high; on the other interfaces medium, since internal/admin networks are often "
        "not routable from where the tool runs."
    ),
    risk=(
        "Every client of the service follows the catalog: uploads, downloads, image or backup transfers and "
        "service-to-service calls fail with connection errors although the service itself may be running "
        "elsewhere."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See the endpoint and check who listens on its port.", commands=[
            "openstack endpoint list --service <type> --long",
            "curl -sS -m 5 -o /dev/null -w '%{http_code}\\n' http://<host>:<port>/info",
            "ss -ltnp | grep ':<port> '   # on the node owning <host> (VIPs: on every controller)",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Point the endpoint at where the service really runs (changes what every client uses; confirm "
            "the new URL answers first; fix s3/swift_s3 endpoints too)."), commands=[
            "openstack endpoint set --url 'http://<proxy-host>:8080/v1/AUTH_%(project_id)s' <endpoint-id>",
        ]),
    ],
    references=[
        "swift etc/proxy-server.conf-sample (bind_port 8080; /info capabilities, expose_info)",
        "sos sos/report/plugins/openstack_keystone.py (endpoint list only with OS_* credentials)",
        "keystone api-ref GET /v3/auth/catalog",
        "UNVERIFIED: /info answered when expose_info is disabled (a 4xx still counts as served here)",
    ],
    modes=API,
    reads={"api": ["GET /v3/auth/catalog", "TCP connect + unauthenticated GET of each endpoint's version "
                   "document (object-store: /info)"]},
))
def endpoints_served(ctx: CheckContext) -> None:
    api = cloud_view(ctx.view)
    catalog = ctx.facts.get(load_catalog)
    if not catalog.endpoints:
        raise MissingEvidence(f"{catalog.source}: empty catalog (is the token project-scoped?)")
    client = api.interface()
    for p in ctx.facts.get(load_probes, catalog):
        ep = p.endpoint
        resource = f"{ep.service_type} {ep.interface} {ep.region} {ep.url}"
        evidence = [Evidence(source=f"probe:{p.url}", excerpt=f"{p.reason} ({p.seconds:.2f} s)"), ep.evidence()]
        label = f"{ep.service_type} ({ep.service_name}) {ep.interface} endpoint {ep.url}"
        if p.served:
            ctx.ok(f"{label} is served: {p.reason}", resource=resource, evidence=evidence)
        elif ep.interface in (client, ""):
            ctx.fail(f"{label} is not served: {p.reason}", severity=Severity.high, resource=resource,
                     evidence=evidence)
        else:
            ctx.warn(f"{label} is not served from here: {p.reason} (the {ep.interface} network may not be "
                     f"routable from this host; the client uses {client})", severity=Severity.medium,
                     resource=resource, evidence=evidence)


# ------------------------------------------------------------------------------------------------------
@check(_fleet_id_meta(
    id="HA-F01",
    title="L3HA: exactly one active L3 agent per HA router (API view)",
    severity=Severity.critical,
    area="ha",
    tale=(
        "An operator tracking a Neutron HA router first asked the server which L3 agents hosted it, and "
        "the listing named node-8 as master; the router namespace's addresses and the agent's `state` file "
        "were the ways to confirm it on the node. That same listing can name two masters when VRRP adverts "
        "stop crossing the HA network, or none when every keepalived sits in backup."
    ),
    description=(
        "Lists routers (`GET /v2.0/routers`, `ha` attribute of the l3-ha extension; admin only) and, for each "
        "HA router, the L3 agents hosting it (`GET /v2.0/routers/{id}/l3-agents`, `ha_state` active / "
        "standby / unknown). Only alive agents count as active: a dead agent's ha_state is the last thing it "
        "reported. Two or more alive agents active → critical (split brain); none active on an admin-up "
        "router → high (the API cannot tell a failover in progress from an outage; the node-side state files "
        "decide); a single HA binding while two or more eligible L3 agents are alive → medium (no failover). "
        "Bindings with ha_state null (the dvr agents of a DVR+HA router on computes) are ignored. Not "
        "applicable without L3 agents (ML2/OVN). `stackrx fleet` judges the node-side half under the same id: "
        "state files, keepalived and the router addresses compared across the network nodes."
    ),
    risk=(
        "Split brain: the gateway and internal router addresses are answered by two nodes; ARP flips between "
        "them and connections break at random. No active instance: the router forwards nothing."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Compare with the nodes: the state file and keepalived on each network node, and the VRRP adverts "
            "on the HA interface (split brain is usually adverts not crossing the HA network: tunnels, MTU, "
            "security groups, physical switches)."), commands=[
            "openstack network agent list --router <router-id> --long",
            "cat /var/lib/neutron/ha_confs/<router-id>/state",
            "ip netns exec qrouter-<router-id> tcpdump -ni <ha-interface> -c 5 vrrp",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Force a clean election (router outage while it runs): disable and re-enable the router, or "
            "remove the wrong agent from it and add it back, or restart the L3 agent on the wrong node."),
            commands=[
                "openstack router set --disable <router-id> && openstack router set --enable <router-id>",
                "openstack network agent remove router --l3 <agent-id> <router-id>",
                "openstack network agent add router --l3 <agent-id> <router-id>",
            ]),
    ],
    references=[
        "neutron neutron/db/l3_hascheduler_db.py (ha_state in l3-agents listing), neutron/db/models/l3ha.py",
        "neutron-lib api-ref samples/agents/router-l3-agent-list-response.json (ha_state, alive)",
        "neutron neutron/conf/db/l3_hamode_db.py (max_l3_agents_per_router 3), "
        "neutron/conf/agent/database/agents_db.py (agent_down_time 75 s)",
        "Node-side half (state files, keepalived, VIPs across network nodes): the fleet run of HA-F01",
    ],
    modes=["api", "fleet"],
    reads={"api": ["GET /v2.0/agents", "GET /v2.0/routers", "GET /v2.0/routers/{id}/l3-agents"],
           "fleet": ["var/lib/neutron/ha_confs/<id>/{state,keepalived.conf} on each network node (node-side "
                     "half, run by `stackrx fleet`)"]},
))
def ha_router_single_active(ctx: CheckContext) -> None:
    require_service(ctx.facts.get(load_catalog), "network")
    l3 = [a for a in ctx.facts.get(load_agents) if a.agent_type == L3_AGENT or a.binary == "neutron-l3-agent"]
    if not l3:
        raise NotApplicable("no neutron L3 agent is registered (ML2/OVN routers are OVN-002's)")
    routers = ctx.facts.get(load_routers)
    if routers and all(r.ha is None for r in routers):
        raise MissingEvidence(f"{routers[0].source}: routers carry no `ha` attribute (l3-ha extension off, or "
                              "the credentials are not admin)")
    ha = [r for r in routers if r.ha]
    if not ha:
        ctx.ok(f"no HA router among {len(routers)} router(s)")
        return
    bindings = ctx.facts.get(load_ha_bindings, tuple(r.id for r in ha))
    eligible = [a for a in l3 if a.alive and a.admin_state_up and a.agent_mode in HA_MODES]
    for r in ha:
        hosting = [a for a in bindings[r.id] if a.ha_state is not None]
        active = [a for a in hosting if a.ha_state == "active" and a.alive]
        stale = [a for a in hosting if a.ha_state == "active" and not a.alive]
        evidence = [a.evidence() for a in bindings[r.id]]
        resource = f"router {r.id}"
        name = f"HA router {r.name or r.id} ({r.id})"
        if len(active) >= 2:
            ctx.fail(f"{name}: {len(active)} alive L3 agents report ha_state=active "
                     f"({', '.join(a.host for a in active)}): split brain, its addresses answer from several "
                     "nodes", severity=Severity.critical, resource=resource, evidence=evidence)
        elif not active:
            if not r.admin_state_up:
                ctx.ok(f"{name} is administratively down; no active agent expected", resource=resource)
                continue
            why = (f"; only dead agent(s) on {', '.join(a.host for a in stale)} still claim active (stale state)"
                   if stale else "")
            ctx.fail(f"{name}: no alive L3 agent reports ha_state=active among {len(hosting)} binding(s){why}",
                     severity=Severity.high, resource=resource, evidence=evidence)
        elif len(hosting) < 2 <= len(eligible):
            ctx.warn(f"{name} is bound to a single L3 agent ({active[0].host}) although {len(eligible)} "
                     "eligible agents are alive: no failover", severity=Severity.medium, resource=resource,
                     evidence=evidence)
        else:
            standby = [a.host for a in hosting if a not in active]
            ctx.ok(f"{name} active on {active[0].host}" + (f", standby on {', '.join(standby)}" if standby else ""),
                   resource=resource, evidence=evidence)


# ------------------------------------------------------------------------------------------------------
@check(CheckMeta(
    id="CLD-001",
    title="Neutron agents down",
    severity=Severity.high,
    area="cloud",
    tale=(
        "In the L3HA tale the operator asked neutron, before touching any node, which agents hosted a "
        "router. That answer is only as fresh as the agents' heartbeats: an agent that stopped reporting "
        "still holds its routers, networks and ports on paper while nothing on its node serves them."
    ),
    description=(
        "Lists the neutron agents (`GET /v2.0/agents`) and reports each with `alive` false (no heartbeat "
        "within the server's agent_down_time, default 75 s). Down and administratively up → high; down and "
        "silent longer than --stale-days (default 30) → low (a leftover record of a removed or renamed host); "
        "down with admin_state_up false → not reported (disabled on purpose). Applies to ML2/OVS, Linux "
        "bridge and the OVN agents alike (their alive flag comes from the southbound database)."
    ),
    risk=(
        "Routers, DHCP servers and metadata proxies on that node stop being configured; new ports bound to "
        "it fail (`binding_failed`); HA routers cannot fail over to it."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See the agent and its service on the node.", commands=[
            "openstack network agent list --long",
            "openstack network agent show <agent-id>",
            "systemctl status neutron-<agent>   # or: docker ps -a | grep neutron",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Restart the agent on its node (brief data-plane reprogramming), or delete the record of a host "
            "that is gone for good."), commands=[
            "systemctl restart neutron-<agent>",
            "openstack network agent delete <agent-id>",
        ]),
    ],
    references=[
        "neutron-lib api-ref samples/agents/agents-list-response.json (alive, heartbeat_timestamp)",
        "neutron neutron/conf/agent/database/agents_db.py (agent_down_time default 75 s)",
        "Not in the check catalogue: numbered here under area `cloud`",
    ],
    modes=API,
    reads={"api": ["GET /v2.0/agents"]},
))
def neutron_agents_down(ctx: CheckContext) -> None:
    require_service(ctx.facts.get(load_catalog), "network")
    agents = ctx.facts.get(load_agents)
    if not agents:
        raise NotApplicable("no neutron agent is registered")
    now, stale = ctx.collected_at(), _stale_limit(ctx)
    problems = 0
    for a in sorted(agents, key=lambda a: (a.host, a.agent_type)):
        if a.alive:
            continue
        age = _age(now, a.heartbeat)
        resource = f"agent {a.label}"
        if not a.admin_state_up:
            ctx.ok(f"{a.label} is down but administratively disabled", resource=resource, evidence=[a.evidence()])
            continue
        problems += 1
        if age is not None and age > stale:
            ctx.warn(f"{a.label} last reported {_ago(age)}: a leftover record of a removed host?",
                     severity=Severity.low, resource=resource, evidence=[a.evidence()])
        else:
            ctx.fail(f"{a.label} is down (last heartbeat {_ago(age)})", severity=Severity.high, resource=resource,
                     evidence=[a.evidence()])
    if not problems:
        ctx.ok(f"every enabled neutron agent is alive ({sum(a.alive for a in agents)} alive, "
               f"{sum(not a.admin_state_up for a in agents)} disabled)")


# ------------------------------------------------------------------------------------------------------
@check(CheckMeta(
    id="CLD-002",
    title="Nova services down",
    severity=Severity.high,
    area="cloud",
    tale=(
        "On Valentine's Day an operator was alerted that `nova service-list` showed a compute node down, "
        "although the node still answered ping and SSH: BPDU guard had shut both switch ports of its bond. "
        "Nova's own service list was the first witness, and an enabled service that is down is capacity the "
        "users still count on."
    ),
    description=(
        "Lists the nova services (`GET /os-services`, microversion 2.11 for `forced_down`) and reports each "
        "enabled one whose `state` is down (no report within nova's service_down_time). Enabled and down → "
        "high; forced down (fencing, evacuation under way) → medium; silent longer than --stale-days → low "
        "(a leftover record). Disabled services are not reported: the operator took them out."
    ),
    risk=(
        "A down nova-compute keeps its instances unmanageable (no reboot, resize, migration, console) and its "
        "capacity is lost; a down conductor or scheduler slows or stops every boot."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="See the service and its log on the host.", commands=[
            "openstack compute service list --long",
            "journalctl -u nova-compute --since -1h   # or: docker logs nova_compute",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Restart the service on its host; or, for a host that is gone, disable it (stops scheduling) and "
            "delete its record once its instances are evacuated."), commands=[
            "systemctl restart nova-compute",
            "openstack compute service set --disable --disable-reason '<why>' <host> nova-compute",
            "openstack compute service delete <service-id>",
        ]),
    ],
    references=[
        "nova api-ref os-services (state up/down, status enabled/disabled, forced_down 2.11)",
        "nova doc/api_samples/os-services/v2.53/services-list-get-resp.json",
        "Not in the check catalogue: numbered here under area `cloud`",
    ],
    modes=API,
    reads={"api": ["GET /os-services"]},
))
def nova_services_down(ctx: CheckContext) -> None:
    require_service(ctx.facts.get(load_catalog), "compute")
    services = ctx.facts.get(load_compute_services)
    if not services:
        raise NotApplicable("no nova service is registered")
    now, stale = ctx.collected_at(), _stale_limit(ctx)
    problems = 0
    for s in sorted(services, key=lambda s: (s.host, s.binary)):
        if s.state != "down" or s.status != "enabled":
            continue
        problems += 1
        age = _age(now, s.updated_at)
        resource = f"service {s.binary}@{s.host}"
        if s.forced_down:
            ctx.warn(f"{s.binary} on {s.host} is forced down and still enabled (fencing or evacuation under way?)",
                     severity=Severity.medium, resource=resource, evidence=[s.evidence()])
        elif age is not None and age > stale:
            ctx.warn(f"{s.binary} on {s.host} last reported {_ago(age)} and is still enabled: a leftover record?",
                     severity=Severity.low, resource=resource, evidence=[s.evidence()])
        else:
            ctx.fail(f"{s.binary} on {s.host} is down and enabled (last report {_ago(age)})",
                     severity=Severity.high, resource=resource, evidence=[s.evidence()])
    if not problems:
        up = sum(s.state == "up" for s in services)
        ctx.ok(f"no enabled nova service is down ({up} up, "
               f"{sum(s.status == 'disabled' for s in services)} disabled)")


# ------------------------------------------------------------------------------------------------------
def _hypervisor_kinds(hypervisors: tuple[Hypervisor, ...] | None) -> set[str]:
    kinds: set[str] = set()
    for h in hypervisors or ():
        t = h.hypervisor_type.lower()
        kinds.add("libvirt" if t in LIBVIRT_TYPES else "vmware" if "vmware" in t else t)
    return kinds


def _kvm_images(ctx: CheckContext) -> tuple[list[Image], str]:
    """Active images that libvirt/KVM computes may boot, and a note on how that was decided."""
    images = ctx.facts.get(load_images)
    kinds = _hypervisor_kinds(_optional(ctx, load_hypervisors))
    if kinds and "libvirt" not in kinds:
        raise NotApplicable(f"no libvirt/KVM hypervisor (hypervisor types: {', '.join(sorted(kinds))})")
    note = "" if kinds else " (hypervisor types unknown: assumed libvirt/KVM)"
    # An image pinned to another hypervisor (mixed clouds) is never booted by KVM.
    usable = [i for i in images if i.status == "active"
              and i.properties.get("hypervisor_type", "").lower() in LIBVIRT_TYPES | {""}]
    return usable, note


def _on_rbd(images: list[Image]) -> bool:
    return any(i.direct_url.startswith("rbd://") or any(u.startswith("rbd://") for u in i.location_urls)
               for i in images)


@check(CheckMeta(
    id="IMG-001",
    title="Non-raw images on KVM (conversion cost; no RBD clone)",
    severity=Severity.medium,
    area="image",
    tale=(
        "At CERN a ready-made appliance arrived as a VirtualBox OVF, and its VMDK disk went straight into "
        "Glance with `--disk-format vmdk`. KVM can read VMDK, so it booted, but every compute that starts it "
        "first converts the whole image to raw, and a Ceph-backed cloud cannot clone such an image at all."
    ),
    description=(
        "Lists the images (`GET /v2/images`, paged) and the hypervisor types (`GET /os-hypervisors/detail`). "
        "On a cloud with libvirt/KVM computes, each active image in vmdk, vdi, vhd or vhdx → medium (nova's "
        "force_raw_images, default True, converts it on each compute's first boot). When Glance stores images "
        "on Ceph RBD (an `rbd://` direct_url or location is shown), active images that are not raw or iso → "
        "medium (the RBD image backend clones only raw images; others are downloaded and copied per boot). "
        "Images pinned to another hypervisor with the `hypervisor_type` property, and clouds without any "
        "libvirt hypervisor (VMware, Hyper-V), are left out."
    ),
    risk=(
        "Slow first boots and a conversion per compute (CPU, disk space in the image cache); on Ceph, a full "
        "copy of the image per instance instead of a copy-on-write clone, filling the pool."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Convert and upload a raw copy (or enable interoperable import with the image_conversion plugin, "
            "output_format = raw)."), commands=[
            "openstack image save --file in.img <image-id>",
            "qemu-img convert -p -f vmdk -O raw in.img out.raw",
            "openstack image create --disk-format raw --container-format bare --file out.raw '<name>-raw'",
        ]),
        RemediationStep(kind=StepKind.destructive, text="Retire the old image once nothing boots from it.",
                        commands=["openstack image set --deactivate <image-id>",
                                  "openstack image delete <image-id>"]),
    ],
    references=[
        "glance glance/common/config.py ([image_format] disk_formats includes vmdk)",
        "glance glance/async_/flows/plugins/image_conversion.py (output_format raw)",
        "nova nova/conf/compute.py (force_raw_images True), nova/virt/libvirt/imagebackend.py (RBD clones raw "
        "only: 'Image is not raw format')",
        "Glance on RBD is inferred from image locations / direct_url, which Glance shows only with "
        "show_image_direct_url / show_multiple_locations",
    ],
    modes=API,
    reads={"api": ["GET /v2/images", "GET /os-hypervisors/detail"]},
))
def images_need_conversion(ctx: CheckContext) -> None:
    require_service(ctx.facts.get(load_catalog), "image")
    images, note = _kvm_images(ctx)
    rbd = _on_rbd(images)
    flagged = 0
    for i in images:
        resource = f"image {i.id}"
        if i.disk_format in CONVERTED_FORMATS:
            flagged += 1
            ctx.warn(f"image {i.name!r} is {i.disk_format}: each KVM compute converts it to raw on first boot"
                     f"{note}", severity=Severity.medium, resource=resource, evidence=[i.evidence("hypervisor_type")])
        elif rbd and i.disk_format and i.disk_format not in CLONEABLE_ON_RBD:
            flagged += 1
            ctx.warn(f"image {i.name!r} is {i.disk_format} while Glance stores images on Ceph RBD: no "
                     "copy-on-write clone, a full copy per boot", severity=Severity.medium, resource=resource,
                     evidence=[i.evidence()])
    if not flagged:
        formats = Counter(i.disk_format or "?" for i in images)
        ctx.ok(f"{len(images)} active image(s), none needs conversion: "
               + (", ".join(f"{n} {f}" for f, n in sorted(formats.items())) or "no image"))


# IMG-002 is also a node check (glance-api.conf / nova.conf policy, checks/image.py) and the engine holds one
# function per id, so this API half is not registered: `stackrx cloud` runs it from SHARED under this
# metadata, and `stackrx checks` shows the node half's.
IMG_002_API_META = CheckMeta(
    id="IMG-002",
    title="VMDK sub-format and image format-inspection policy (image properties)",
    severity=Severity.medium,
    area="image",
    tale=(
        "The appliance disk loaded at CERN was a VMDK, a family of formats rather than one: stream-optimized "
        "exports, sparse disks, flat descriptor-plus-extent pairs. Nova and Glance now inspect image content "
        "and accept only some VMDK sub-formats, so an upload that once booted may today be refused at boot."
    ),
    description=(
        "For active vmdk images that libvirt/KVM computes may boot (`GET /v2/images`), reads the "
        "`vmware_disktype` property (glance metadef OS::Compute::VMware: streamOptimized, sparse, "
        "preallocated). streamOptimized and sparse map to the create-types streamOptimized and "
        "monolithicSparse, which nova's and glance's default `vmdk_allowed_types` accept → pass; preallocated "
        "(a flat disk) → high (not an allowed create-type: boots are refused); no property or another value → "
        "medium (the sub-format is unknown: inspect the bytes with qemu-img). The configuration half of the "
        "catalogue entry (require_image_format_match, vmdk_allowed_types, disable_deep_image_inspection in "
        "glance-api.conf and nova.conf) is read on the nodes."
    ),
    risk="Instances from the image fail to boot on KVM computes once format inspection refuses its sub-format.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Inspect the real sub-format, then convert or label it.", commands=[
            "openstack image save --file in.vmdk <image-id>",
            "qemu-img info --output=json in.vmdk   # format-specific.data.create-type",
            "qemu-img convert -p -f vmdk -O raw in.vmdk out.raw",
            "openstack image set --property vmware_disktype=streamOptimized <image-id>   # only if it is",
        ]),
    ],
    references=[
        "glance etc/metadefs/compute-vmware.json (vmware_disktype enum, default preallocated)",
        "glance glance/common/config.py ([image_format] vmdk_allowed_types streamOptimized, monolithicSparse; "
        "require_image_format_match True)",
        "nova nova/conf/compute.py ([compute] vmdk_allowed_types), nova/conf/workarounds.py",
        "UNVERIFIED: the mapping sparse→monolithicSparse and preallocated→flat is the VMware driver's "
        "convention, not a check of the bytes",
    ],
    modes=API,
    reads={"api": ["GET /v2/images", "GET /os-hypervisors/detail"]},
)


def vmdk_subformat(ctx: CheckContext) -> None:
    require_service(ctx.facts.get(load_catalog), "image")
    images, note = _kvm_images(ctx)
    vmdks = [i for i in images if i.disk_format == "vmdk"]
    if not vmdks:
        ctx.ok(f"no active VMDK image among {len(images)} image(s)")
        return
    for i in vmdks:
        declared = i.properties.get("vmware_disktype")
        resource = f"image {i.id}"
        evidence = [i.evidence("vmware_disktype", "hypervisor_type")]
        if declared is not None and declared.lower() in ALLOWED_DISKTYPES:
            ctx.ok(f"VMDK image {i.name!r} is {declared} (create-type {ALLOWED_DISKTYPES[declared.lower()]}, "
                   "allowed by default)", resource=resource, evidence=evidence)
        elif declared is not None and declared.lower() == "preallocated":
            ctx.fail(f"VMDK image {i.name!r} is declared preallocated (flat): not an allowed VMDK create-type, "
                     f"KVM boots are refused{note}", severity=Severity.high, resource=resource, evidence=evidence)
        else:
            what = "declares no vmware_disktype" if declared is None else f"declares vmware_disktype={declared!r}"
            ctx.warn(f"VMDK image {i.name!r} {what}: its sub-format is unknown, check it with qemu-img info{note}",
                     severity=Severity.medium, resource=resource, evidence=evidence)


# ------------------------------------------------------------------------------------------------------
@check(CheckMeta(
    id="UPG-004",
    title="Service users missing for services in the catalog (Ceph RGW `ceph_rgw`)",
    severity=Severity.high,
    area="upgrade",
    tale=(
        "During a Kolla-Ansible upgrade the object store began authenticating to Keystone as `ceph_rgw` "
        "instead of `admin`. Nobody had created that user, so every object-store request failed until the "
        "user was added and given a role on the service project."
    ),
    description=(
        "For each service type in the catalog with a conventional Keystone user (object-store: swift or "
        "ceph_rgw; compute: nova; network: neutron; image: glance; placement, cinder, heat, ... — override "
        "with --service-user TYPE=NAME), looks the user up (`GET /v3/users?name=`), checks it is enabled, and "
        "that it holds a role on the service project (`service` or `services`, "
        "`GET /v3/role_assignments?effective`). Any of these missing → high for object-store (the seed "
        "case), medium for the others (deployments may name their users differently)."
    ),
    risk=(
        "The service cannot validate users' tokens: every request to it fails with 401/503 although the "
        "service and Keystone both run."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Create the user and give it a role on the service project (additive identity objects); with "
            "Kolla, let the service's role register it."), commands=[
            "openstack user create --domain default --password-prompt ceph_rgw",
            "openstack role add --project service --user ceph_rgw admin",
            "kolla-ansible deploy -t ceph-rgw",
        ]),
        RemediationStep(kind=StepKind.safe, text="Or enable an existing, disabled user.", commands=[
            "openstack user set --enable <user>",
        ]),
    ],
    references=[
        "kolla-ansible ansible/roles/ceph-rgw/defaults/main.yml (ceph_rgw_keystone_user ceph_rgw, project "
        "service, role admin)",
        "keystone api-ref GET /v3/users?name=, GET /v3/role_assignments?effective",
        "UNVERIFIED: RGW option names (rgw_keystone_admin_user) — RGW config is not read here; pass "
        "--service-user object-store=NAME when RGW uses another user on purpose",
    ],
    modes=API,
    reads={"api": ["GET /v3/auth/catalog", "GET /v3/users?name=", "GET /v3/projects?name=",
                   "GET /v3/role_assignments?user.id=&scope.project.id=&effective"]},
))
def service_users(ctx: CheckContext) -> None:
    api = cloud_view(ctx.view)
    catalog = ctx.facts.get(load_catalog)
    expected = {**SERVICE_USERS, **api.options.service_users}
    types = sorted(catalog.types() & expected.keys())
    if not types:
        raise NotApplicable("no service in the catalog has a known service user")
    projects = [p for name in SERVICE_PROJECTS for p in ctx.facts.get(load_projects_named, name)]
    for stype in types:
        names = expected[stype]
        severity = Severity.high if stype == "object-store" else Severity.medium
        endpoint = next(e for e in catalog.endpoints if e.service_type == stype)
        resource = f"{stype} service user"
        lookups = [ctx.facts.get(load_users_named, n) for n in names]
        users = [u for found in lookups for u in found.users]
        wanted = " or ".join(names)
        if not users:
            ctx.report(severity, f"{stype} is in the catalog but no Keystone user named {wanted} exists",
                       resource=resource, evidence=[endpoint.evidence(), *(
                           Evidence(source=found.source, excerpt='{"users": []}') for found in lookups)])
            continue
        enabled = [u for u in users if u.enabled]
        if not enabled:
            ctx.report(severity, f"{stype} service user {wanted} exists but is disabled", resource=resource,
                       evidence=[u.evidence("user") for u in users])
            continue
        if not projects:
            ctx.ok(f"{stype} service user {enabled[0].name} exists and is enabled (no project named "
                   f"{' or '.join(SERVICE_PROJECTS)}: role not checked)", resource=resource,
                   evidence=[enabled[0].evidence("user")])
            continue
        roles = [(u, p, r) for u in enabled for p in projects
                 for r in ctx.facts.get(load_role_assignments, u.id, p.id)]
        if not roles:
            ctx.report(severity, f"{stype} service user {enabled[0].name} has no role on project "
                       f"{projects[0].name}", resource=resource,
                       evidence=[enabled[0].evidence("user"), projects[0].evidence("project")])
            continue
        user, project, role = roles[0]
        ctx.ok(f"{stype} service user {user.name} has role {role.role_name or role.role_id} on {project.name}",
               resource=resource, evidence=[user.evidence("user")])


# API halves of ids whose registration belongs to a node check (see IMG_002_API_META).
SHARED: tuple[tuple[CheckMeta, CheckFn], ...] = ((IMG_002_API_META, vmdk_subformat),)
