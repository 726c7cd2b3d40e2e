from __future__ import annotations

import re
from pathlib import Path

import pytest

from stackrx.demo.areas import compute as demo
from stackrx.demo.builder import Interface, NodeTree
from stackrx.models import Result, Severity, Status
from testkit import REALDATA, failing, scan_dir, scan_tree

HEADER = "Filesystem     1K-blocks     Used Available Use% Mounted on\n"
IHEADER = "Filesystem      Inodes  IUsed   IFree IUse% Mounted on\n"
ROOT = "/dev/vda1       20971520  8388608  12582912  40% /\n"


def row(device: str, pct: int, target: str, size_k: int = 1_000_000) -> str:
    used = size_k * pct // 100
    return f"{device} {size_k} {used} {size_k - used} {pct}% {target}\n"


def node(df: str, inodes: str | None = None, mounts: str | None = None) -> NodeTree:
    tree = NodeTree("node-x")
    tree.command("df -al", df)
    if inodes is not None:
        tree.command("df -ali", inodes)
    if mounts is not None:
        tree.command("mount -l", mounts)
    return tree


def test_swift_device_at_97_percent_is_critical(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("/dev/sdb", 97, "/srv/node/sdb") + row("/dev/sdc", 40, "/srv/node/sdc")
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.status is Status.fail and r.severity is Severity.critical and r.resource == "/srv/node/sdb"
    assert "97% of its space used" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == ("sos_commands/filesys/df_-al_-x_autofs", 3)


def test_thresholds_high_and_below(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("/dev/vdb1", 85, "/var/lib/mysql") + row("/dev/vdc1", 84, "/var/log")
    results = scan_tree(node(df), tmp_path, "STO-003")
    [r] = failing(results)
    assert r.severity is Severity.high and r.resource == "/var/lib/mysql"
    ok = [x for x in results if x.status is Status.passed]
    assert ok and "/var/log 84%" in ok[0].message


def test_inodes_exhausted_is_critical(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("/dev/vdb1", 30, "/var/lib/nova/instances")
    inodes = IHEADER + "/dev/vda1 1000 100 900 10% /\n/dev/vdb1 1000 960 40 96% /var/lib/nova/instances\n"
    [r] = failing(scan_tree(node(df, inodes), tmp_path, "STO-003"))
    assert r.severity is Severity.critical and "96% of its inodes used" in r.message
    assert r.evidence[0].source == "sos_commands/filesys/df_-ali_-x_autofs" and r.evidence[0].line == 3


def test_read_only_images_small_tmpfs_and_pseudo_fs_are_ignored(tmp_path: Path) -> None:
    df = (
        HEADER
        + ROOT
        + row("/dev/sr0", 100, "/srv/node/cdrom")
        + row("tmpfs", 99, "/var/lib/rabbitmq", 32768)
        + "sysfs 0 0 0 - /var/lib/gnocchi\n"
        + row("/dev/loop3", 100, "/var/lib/docker/volumes/snap")
    )
    mounts = "/dev/sr0 on /srv/node/cdrom type iso9660 (ro)\n"
    results = scan_tree(node(df, mounts=mounts), tmp_path, "STO-003")
    assert [r.status for r in results] == [Status.passed]
    assert "/ 40%" in results[0].message and "inode usage not collected" in results[0].message


def test_large_tmpfs_is_still_checked(tmp_path: Path) -> None:
    df = HEADER + ROOT + row("tmpfs", 99, "/var/lib/rabbitmq", 4_000_000)
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.severity is Severity.critical and "tmpfs" in r.message


def test_shared_export_reported_once(tmp_path: Path) -> None:
    df = (
        HEADER
        + ROOT
        + row("nas:/openstack", 96, "/var/lib/nova/instances")
        + row("nas:/openstack", 96, "/var/lib/glance/images")
    )
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.resource == "nas:/openstack" and "attribute it to the fleet" in r.message
    assert "/var/lib/glance/images" in r.message and "/var/lib/nova/instances" in r.message


def test_bind_mount_and_overlay_duplicates_reported_once(tmp_path: Path) -> None:
    df = (
        HEADER
        + row("/dev/vda1", 96, "/")
        + row("/dev/vda1", 96, "/var/lib/docker")
        + row("overlay", 96, "/var/lib/containers")
    )
    mounts = "overlay on /var/lib/containers type overlay (rw)\n"
    [r] = failing(scan_tree(node(df, mounts=mounts), tmp_path, "STO-003"))
    assert r.resource == "/" and "also mounted at /var/lib/docker, /var/lib/containers" in r.message


def test_top_offenders_from_the_log_listing(tmp_path: Path) -> None:
    tree = node(HEADER + row("/dev/vda1", 98, "/"))
    tree.file(
        "sos_commands/logs/ls_-alRh_.var.log",
        """/var/log/:
total 12G
-rw-r-----  1 syslog adm  11G Dec  1 08:59 syslog
-rw-r-----  1 syslog adm 1.2M Dec  1 08:59 kern.log
""",
    )
    [r] = failing(scan_tree(tree, tmp_path, "STO-003"))
    assert "largest: /var/log/syslog 11.0 GiB" in r.message
    assert any(e.source == "sos_commands/logs/ls_-alRh_.var.log" and e.line == 3 for e in r.evidence)


def test_wrapped_df_line(tmp_path: Path) -> None:
    df = HEADER + "/dev/mapper/vg_root-lv_root\n               1000000 990000 10000  99% /\n"
    [r] = failing(scan_tree(node(df), tmp_path, "STO-003"))
    assert r.severity is Severity.critical and "/dev/mapper/vg_root-lv_root" in r.message


def test_configured_instances_path_is_of_interest(tmp_path: Path) -> None:
    tree = node(HEADER + ROOT + row("/dev/vdb", 95, "/srv/instances"))
    tree.file("etc/nova/nova.conf", "[DEFAULT]\ninstances_path = /srv/instances\n")
    [r] = failing(scan_tree(tree, tmp_path, "STO-003"))
    assert r.resource == "/srv/instances" and "/srv/instances/_base" in r.message


def test_no_df_is_skipped(tmp_path: Path) -> None:
    NodeTree("empty").write(tmp_path)
    [r] = scan_dir(tmp_path, "STO-003")
    assert r.status is Status.skipped and "cmd:df -al" in r.message


def test_compute4_sto003_passes(compute4: Path) -> None:
    [r] = scan_dir(compute4, "STO-003")
    assert r.status is Status.passed
    assert r.message == (
        "filesystems holding OpenStack paths are below 85%: / 9%, /var/lib/nova/instances 2% "
        "(inode usage not collected)"
    )


def _demo(role: str, *faults: str) -> NodeTree:
    tree = NodeTree(f"{role}-1", collected="Tue Dec  1 09:00:00 UTC 2026")
    tree.interfaces.append(Interface("eth0", addrs=["10.0.0.41/24"]))
    demo.healthy(tree, role)
    for fault in faults:
        demo.FAULTS[fault](tree)
    return tree


def test_demo_filesystems(tmp_path: Path) -> None:
    for role, target in (
        ("storage", "/srv/node/sdb"),
        ("controller", "/var/lib/mysql"),
        ("compute", "/var/lib/nova/instances"),
        ("network", "/"),
    ):
        assert not failing(scan_tree(_demo(role), tmp_path / role, "STO-003")), role
        [r] = failing(scan_tree(_demo(role, "STO-003"), tmp_path / f"{role}-bad", "STO-003"))
        assert r.severity is Severity.critical and r.resource == target, role


PROXY = "etc/swift/proxy-server.conf"
DPKG = "sos_commands/dpkg/dpkg_-l"
# The proxy-server.conf Debian's swift-proxy package installs (tempauth, s3api/s3token sections defined but
# not in the pipeline); the insights fixture is a real Keystone-backed RDO proxy without S3.
DEBIAN_PROXY = REALDATA / "debian-defaults" / "swift-proxy" / "etc" / "swift" / "proxy-server.conf"
INSIGHTS_PROXY = REALDATA / "insights-core-fixtures" / "test_swift_conf" / "proxy_server_conf.txt"
KEYSTONE_FILTERS = """
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = http://10.0.0.5:5000
delay_auth_decision = True

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
"""
S3_KEYSTONE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit "
               "authtoken s3api s3token keystoneauth copy container-quotas account-quotas slo dlo "
               "versioned_writes symlink proxy-logging proxy-server")
# Kilo-era layout of the seed: swift3 egg, s3token from a middleware package, auth after them.
SEED = """[DEFAULT]
bind_port = 8080

[pipeline:main]
pipeline = catch_errors healthcheck cache swift3 s3token authtoken keystoneauth proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy

[filter:swift3]
use = egg:swift3#swift3

[filter:s3token]
paste.filter_factory = {factory}
auth_port = 35357
auth_host = 10.0.0.5
auth_protocol = http
""" + KEYSTONE_FILTERS


def _one(results: list[Result]) -> Result:
    assert len(results) == 1, [(r.status, r.message) for r in results]
    return results[0]


def _real(path: Path) -> str:
    if not path.is_file():
        pytest.skip(f"real data not present: {path}")
    return path.read_text()


def _debian(pipeline: str | None = None, extra: str = "") -> str:
    """Debian's shipped proxy-server.conf, with another [pipeline:main] pipeline and extra sections appended."""
    conf = _real(DEBIAN_PROXY)
    if pipeline is not None:
        conf, n = re.subn(r"^pipeline = .*$", f"pipeline = {pipeline}", conf, count=1, flags=re.M)
        assert n == 1
    return conf + extra


def _dpkg(*rows: tuple[str, str]) -> str:
    head = "||/ Name Version Architecture Description\n+++-====-=======-============-===========\n"
    return head + "".join(f"ii  {name}  {version}  all  package\n" for name, version in rows)


def _proxy_node(conf: str, packages: tuple[tuple[str, str], ...] = ()) -> NodeTree:
    node = NodeTree("swift-proxy-1")
    node.file(PROXY, conf)
    if packages:
        node.file(DPKG, _dpkg(*packages))
    return node


def _pipeline_line(conf: str) -> int:
    return next(i for i, line in enumerate(conf.splitlines(), 1) if line.startswith("pipeline = "))


# -- STO-002 -----------------------------------------------------------------------------------------------
def test_sto002_debian_default_tempauth_without_s3_passes(tmp_path: Path) -> None:
    conf = _debian()
    r = _one(scan_tree(_proxy_node(conf), tmp_path, "STO-002"))
    assert r.status is Status.passed and "no S3 middleware" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (PROXY, _pipeline_line(conf))


def test_sto002_real_keystone_proxy_without_s3_passes(tmp_path: Path) -> None:
    r = _one(scan_tree(_proxy_node(_real(INSIGHTS_PROXY)), tmp_path, "STO-002"))
    assert r.status is Status.passed and "no S3 middleware" in r.message


def test_sto002_recommended_keystone_pipeline_passes(tmp_path: Path) -> None:
    node = _proxy_node(_debian(S3_KEYSTONE, KEYSTONE_FILTERS),
                       packages=(("python3-swift", "2.30.1-0ubuntu1"), ("python3-keystonemiddleware", "10.1.0-1")))
    r = _one(scan_tree(node, tmp_path, "STO-002"))
    assert r.status is Status.passed and "consistent" in r.message


def test_sto002_seed_keystone_middleware_factory_is_not_importable(tmp_path: Path) -> None:
    conf = SEED.format(factory="keystone.middleware.s3_token:filter_factory")
    results = failing(scan_tree(_proxy_node(conf), tmp_path, "STO-002"))
    r = next(x for x in results if x.resource == "filter:s3token")
    assert (r.status, r.severity) == (Status.fail, Severity.high)
    assert "loads keystone.middleware.s3_token" in r.message and "no current package" in r.message
    assert r.evidence[0].source == PROXY and "keystone.middleware.s3_token" in r.evidence[0].excerpt
    # swift version unknown: the swift3 egg is only a low hint here.
    swift3 = next(x for x in results if x.resource == "filter:swift3")
    assert (swift3.status, swift3.severity) == (Status.warn, Severity.low)


def test_sto002_keystone_middleware_auth_token_still_counts_as_authtoken(tmp_path: Path) -> None:
    conf = _debian("catch_errors cache authtoken s3api keystoneauth slo proxy-server", KEYSTONE_FILTERS)
    conf = conf.replace("keystonemiddleware.auth_token:filter_factory", "keystone.middleware.auth_token:filter_factory")
    results = failing(scan_tree(_proxy_node(conf), tmp_path, "STO-002"))
    assert {r.resource for r in results} == {"filter:authtoken", "pipeline:s3token"}
    assert all(r.severity is Severity.high for r in results)


@pytest.mark.parametrize(("kmw", "status", "severity", "words"), [
    ("12.0.0-1", Status.fail, Severity.high, "keystonemiddleware 12.0.0-1 installed"),
    ("9.0.0-0ubuntu1", Status.warn, Severity.medium, "deprecated location"),
    (None, Status.warn, Severity.medium, "version unknown"),
])
def test_sto002_keystonemiddleware_s3_token_by_installed_version(
        tmp_path: Path, kmw: str | None, status: Status, severity: Severity, words: str) -> None:
    conf = SEED.format(factory="keystonemiddleware.s3_token:filter_factory")
    packages = (("python3-keystonemiddleware", kmw),) if kmw else ()
    results = failing(scan_tree(_proxy_node(conf, packages), tmp_path, "STO-002"))
    r = next(x for x in results if x.resource == "filter:s3token")
    assert (r.status, r.severity) == (status, severity) and words in r.message
    assert (DPKG in {e.source for e in r.evidence}) is (kmw is not None)


def test_sto002_swift3_egg_on_swift_with_s3api(tmp_path: Path) -> None:
    conf = SEED.format(factory="swift.common.middleware.s3api.s3token:filter_factory")
    node = _proxy_node(conf, packages=(("python3-swift", "2.25.2-0ubuntu1"),))
    r = _one(failing(scan_tree(node, tmp_path, "STO-002")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "filter:swift3")
    assert "egg:swift#s3api" in r.message and "2.25.2-0ubuntu1" in r.message
    assert {PROXY, DPKG} <= {e.source for e in r.evidence}


def test_sto002_swift3_egg_on_old_swift_passes(tmp_path: Path) -> None:
    conf = SEED.format(factory="swift.common.middleware.s3api.s3token:filter_factory")
    node = _proxy_node(conf, packages=(("python-swift", "2.15.1-0ubuntu3"),))
    assert not failing(scan_tree(node, tmp_path, "STO-002"))


@pytest.mark.parametrize(("pipeline", "resource", "words"), [
    ("catch_errors cache authtoken s3api slo proxy-logging proxy-server", "pipeline:s3api", "no authentication"),
    ("catch_errors cache authtoken s3api keystoneauth s3token slo proxy-server", "pipeline:s3token",
     "comes after keystoneauth"),
    ("catch_errors cache authtoken s3api keystoneauth slo proxy-server", "pipeline:s3token", "s3token is missing"),
    ("catch_errors cache authtoken s3token s3api keystoneauth slo proxy-server", "pipeline:s3token",
     "comes before s3api"),
    ("catch_errors cache s3api authtoken s3token keystoneauth slo proxy-server", "pipeline:s3api",
     "before authtoken"),
])
def test_sto002_s3api_pipeline_order(tmp_path: Path, pipeline: str, resource: str, words: str) -> None:
    conf = _debian(pipeline, KEYSTONE_FILTERS)
    r = _one(failing(scan_tree(_proxy_node(conf), tmp_path, "STO-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, resource)
    assert words in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (PROXY, _pipeline_line(conf))


@pytest.mark.parametrize(("settings", "words"), [
    ("auth_uri = http://10.0.0.5:5000\n", "lacks the Keystone API version"),
    ("auth_host = 10.0.0.5\nauth_port = 5000\nauth_protocol = http\n", "only auth_host/auth_port/auth_protocol"),
])
def test_sto002_swift_s3token_needs_versioned_auth_uri(tmp_path: Path, settings: str, words: str) -> None:
    conf = _debian(S3_KEYSTONE, KEYSTONE_FILTERS).replace("auth_uri = http://keystonehost:5000/v3\n", settings)
    r = _one(failing(scan_tree(_proxy_node(conf), tmp_path, "STO-002")))
    assert (r.status, r.severity, r.resource) == (Status.fail, Severity.high, "filter:s3token.auth_uri")
    assert words in r.message and r.evidence[0].source == PROXY


@pytest.mark.parametrize("auth", ["tempauth", "custom_auth"])
def test_sto002_tempauth_or_third_party_auth_needs_no_s3token(tmp_path: Path, auth: str) -> None:
    extra = "\n[filter:custom_auth]\npaste.filter_factory = acme_auth.middleware:filter_factory\n"
    conf = _debian(f"catch_errors cache s3api {auth} slo dlo proxy-logging proxy-server", extra)
    r = _one(scan_tree(_proxy_node(conf), tmp_path, "STO-002"))
    assert r.status is Status.passed and "consistent" in r.message


def test_sto002_s3api_without_slo_is_information(tmp_path: Path) -> None:
    conf = _debian(S3_KEYSTONE.replace(" slo ", " "), KEYSTONE_FILTERS)
    r = _one(scan_tree(_proxy_node(conf), tmp_path, "STO-002"))
    assert r.status is Status.passed and "multipart uploads are disabled" in r.message


def test_sto002_proxy_conf_d_fragment_is_merged(tmp_path: Path) -> None:
    node = _proxy_node(_debian())
    node.file("etc/swift/proxy-server.conf.d/50-s3.conf",
              "[pipeline:main]\npipeline = catch_errors cache s3api slo proxy-server\n")
    r = _one(failing(scan_tree(node, tmp_path, "STO-002")))
    assert r.resource == "pipeline:s3api" and r.evidence[0].source == "etc/swift/proxy-server.conf.d/50-s3.conf"


def test_sto002_without_pipeline_is_skipped(tmp_path: Path) -> None:
    r = _one(scan_tree(_proxy_node("[DEFAULT]\nbind_port = 8080\n"), tmp_path, "STO-002"))
    assert r.status is Status.skipped and "[pipeline:main]" in r.message


def test_sto002_compute4_is_not_a_proxy(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "STO-002"))
    assert r.status is Status.skipped and "not a Swift proxy node" in r.message


# -- STO-004 -----------------------------------------------------------------------------------------------
CEPH = "sos_commands/ceph_mon/"
HEALTH_OCTOPUS = (
    "HEALTH_WARN 1 pool(s) do not have an application enabled\n"
    "[WRN] POOL_APP_NOT_ENABLED: 1 pool(s) do not have an application enabled\n"
    "    application not enabled on pool 'backups'\n"
    "    use 'ceph osd pool application enable <pool-name> <app-name>', where <app-name> is 'cephfs', 'rbd', "
    "'rgw', or freeform for custom applications.\n"
)
HEALTH_NAUTILUS = """HEALTH_WARN application not enabled on 1 pool(s)
POOL_APP_NOT_ENABLED application not enabled on 1 pool(s)
    application not enabled on pool 'backups'
"""
HEALTH_JSON_OK = '{\n    "status": "HEALTH_OK",\n    "checks": {},\n    "mutes": []\n}\n'


def _pool(pool_id: int, name: str, pgs: int, tail: str) -> str:
    """One `ceph osd dump` pool line (Octopus layout)."""
    return (f"pool {pool_id} '{name}' replicated size 3 min_size 2 crush_rule 0 object_hash rjenkins pg_num {pgs} "
            f"pgp_num {pgs} autoscale_mode on last_change {30 + pool_id} flags hashpspool stripe_width 0{tail}\n")


POOLS = (_pool(1, "device_health_metrics", 1, " pg_num_min 1 application mgr_devicehealth")
         + _pool(2, "volumes", 64, " application rbd") + _pool(3, "images", 32, " application rbd")
         + _pool(4, "backups", 32, ""))


def _osd_dump(release: str, pools: str = POOLS) -> str:
    return ("epoch 412\nfsid 2c5ac3d4-5a1e-11ec-9a2b-fa163e5d3a1c\ncreated 2021-12-10T09:12:33.118207+0000\n"
            "flags sortbitwise,recovery_deletes,purged_snapdirs,pglog_hardlimit\ncrush_version 17\n"
            f"require_min_compat_client luminous\nmin_compat_client jewel\nrequire_osd_release {release}\n"
            f"stretch_mode_enabled false\n\n{pools}\nmax_osd 6\n")


def _osd_dump_json(apps: dict[str, str | None]) -> str:
    pools = ",\n".join(
        f'        {{"pool": {i}, "pool_name": "{name}", "application_metadata": '
        + ("{}" if app is None else f'{{"{app}": {{}}}}') + "}"
        for i, (name, app) in enumerate(apps.items(), 1))
    return f'{{\n    "epoch": 412,\n    "require_osd_release": "quincy",\n    "pools": [\n{pools}\n    ]\n}}\n'


def _mon(health: str | None = None, osd_dump: str | None = None, json_dump: str | None = None) -> NodeTree:
    node = NodeTree("ceph-mon-1")
    node.file("etc/ceph/ceph.conf", "[global]\nfsid = 2c5ac3d4-5a1e-11ec-9a2b-fa163e5d3a1c\n")
    if health is not None:
        node.file(CEPH + "ceph_health_detail", health)
    if osd_dump is not None:
        node.file(CEPH + "ceph_osd_dump", osd_dump)
    if json_dump is not None:
        node.file(CEPH + "json_output/ceph_osd_dump_--format_json-pretty", json_dump)
    return node


@pytest.mark.parametrize("health", [HEALTH_OCTOPUS, HEALTH_NAUTILUS])
def test_sto004_health_pool_app_not_enabled(tmp_path: Path, health: str) -> None:
    r = _one(failing(scan_tree(_mon(health, _osd_dump("octopus")), tmp_path, "STO-004")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "POOL_APP_NOT_ENABLED")
    assert "POOL_APP_NOT_ENABLED" in r.message and "application not enabled on pool 'backups'" in r.message
    assert (r.evidence[0].source, r.evidence[0].line) == (CEPH + "ceph_health_detail", 2)
    # The untagged pool from the OSD map backs the health check up.
    assert r.evidence[1].source == CEPH + "ceph_osd_dump" and r.evidence[1].excerpt.startswith("pool 4 'backups'")


def test_sto004_untagged_pool_in_osd_map_without_health_output(tmp_path: Path) -> None:
    r = _one(failing(scan_tree(_mon(osd_dump=_osd_dump("nautilus")), tmp_path, "STO-004")))
    assert (r.status, r.severity, r.resource) == (Status.warn, Severity.medium, "pool:backups")
    assert "pool backups has no application tag" in r.message
    assert r.evidence[0].source == CEPH + "ceph_osd_dump" and r.evidence[0].line == 14


def test_sto004_json_output_all_tagged_passes(tmp_path: Path) -> None:
    dump = _osd_dump_json({".mgr": "mgr", "volumes": "rbd", "images": "rbd", "vms": "rbd"})
    node = _mon(osd_dump=_osd_dump("quincy", POOLS.replace(" pg_num_min 1", "")), json_dump=dump)
    node.file(CEPH + "json_output/ceph_health_detail_--format_json-pretty", HEALTH_JSON_OK)
    r = _one(scan_tree(node, tmp_path, "STO-004"))
    # JSON wins over the text file beside it (whose backups pool is untagged).
    assert r.status is Status.passed and "no POOL_APP_NOT_ENABLED; 4 pool(s) tagged" in r.message
    assert r.evidence[0].source == CEPH + "json_output/ceph_osd_dump_--format_json-pretty"


def test_sto004_json_untagged_pool(tmp_path: Path) -> None:
    dump = _osd_dump_json({"volumes": "rbd", "gnocchi": None})
    r = _one(failing(scan_tree(_mon(json_dump=dump), tmp_path, "STO-004")))
    assert (r.severity, r.resource) == (Severity.medium, "pool:gnocchi")
    assert "application_metadata {}" in r.evidence[0].excerpt


def test_sto004_pre_luminous_cluster_has_no_tags_to_set(tmp_path: Path) -> None:
    pools = re.sub(r" application \w+", "", POOLS)
    r = _one(scan_tree(_mon("HEALTH_OK\n", _osd_dump("jewel", pools)), tmp_path, "STO-004"))
    assert r.status is Status.passed and "no POOL_APP_NOT_ENABLED" in r.message


def test_sto004_ceph_client_without_monitor_output_is_skipped(tmp_path: Path) -> None:
    r = _one(scan_tree(_mon(), tmp_path, "STO-004"))
    assert r.status is Status.skipped and "ceph_health_detail" in r.message


def test_sto004_no_ceph_is_not_applicable(tmp_path: Path) -> None:
    r = _one(scan_tree(NodeTree("compute-1"), tmp_path, "STO-004"))
    assert r.status is Status.skipped and "no etc/ceph/ceph.conf" in r.message


def test_sto004_compute4_osd_node_lacks_monitor_output(compute4: Path) -> None:
    r = _one(scan_dir(compute4, "STO-004"))
    assert r.status is Status.skipped and "collected on a monitor" in r.message
