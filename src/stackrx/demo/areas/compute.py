"""Demo cloud, compute/storage/telemetry area: filesystems, nova image cache, console logs, telemetry TTLs.

Every node gets a mount table and df output in the formats sos stores (`mount -l`, `df -al -x autofs`,
`df -ali -x autofs`) at a healthy ~40% use; computes get nova/libvirt configs, two instances with small
console logs and a benign image-cache log; the controller gets modern Ceilometer and Aodh with an expirer
cron job; the storage node a swift device. FAULTS plant one tale each.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from stackrx.demo.builder import NodeTree
from stackrx.facts.mounts import parse_df
from stackrx.sources.base import Text

GIB = 1024**3
KIB = 1024
INSTANCES = "/var/lib/nova/instances"
HEALTHY_PCT = 40
FULL_PCT = 97


@dataclass(frozen=True)
class Filesystem:
    device: str
    target: str
    fstype: str
    size: int
    """Bytes; 0 for pseudo filesystems (df prints `-` for their Use%)."""
    options: str = "rw,relatime"
    used_pct: int = HEALTHY_PCT
    inodes: int = 0
    label: str = ""


NOEXEC = "rw,nosuid,nodev,noexec,relatime"
MIB = 1024**2


def _pseudo(device: str, target: str, fstype: str, options: str = NOEXEC) -> Filesystem:
    return Filesystem(device, target, fstype, 0, options, 0)


def _tmpfs(target: str, size: int, options: str, used_pct: int = 0) -> Filesystem:
    return Filesystem("tmpfs", target, "tmpfs", size, options, used_pct, 2_000_000)


def _base_filesystems() -> list[Filesystem]:
    return [
        _pseudo("sysfs", "/sys", "sysfs"),
        _pseudo("proc", "/proc", "proc"),
        Filesystem("udev", "/dev", "devtmpfs", 8 * GIB, "rw,nosuid,relatime,size=8151592k,mode=755", 0,
                   2_000_000),
        _pseudo("devpts", "/dev/pts", "devpts", "rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000"),
        _tmpfs("/run", 1600 * MIB, NOEXEC + ",size=1639320k,mode=755", 1),
        Filesystem("/dev/vda1", "/", "ext4", 20 * GIB, inodes=1_310_720, label="cloudimg-rootfs"),
        _tmpfs("/dev/shm", 8 * GIB, "rw,nosuid,nodev"),
        # Small tmpfs and snap squashfs images: full or tiny by design, never findings (STO-003 traps).
        _tmpfs("/run/lock", 5 * MIB, NOEXEC + ",size=5120k"),
        _pseudo("cgroup2", "/sys/fs/cgroup", "cgroup2", NOEXEC + ",nsdelegate"),
        Filesystem("/dev/loop0", "/snap/core20/1328", "squashfs", 62 * MIB, "ro,nodev,relatime", 100, 12_000),
        Filesystem("/dev/vda3", "/var", "ext4", 60 * GIB, inodes=3_932_160),
    ]


def _role_filesystems(role: str) -> list[Filesystem]:
    extra = {
        "controller": [Filesystem("/dev/vdb1", "/var/lib/mysql", "xfs", 200 * GIB,
                                  "rw,relatime,attr2,inode64", inodes=104_857_600)],
        "compute": [Filesystem("/dev/vdb1", INSTANCES, "ext4", 500 * GIB, inodes=32_768_000)],
        "storage": [Filesystem("/dev/sdb", "/srv/node/sdb", "xfs", 2000 * GIB,
                               "rw,noatime,nodiratime,attr2,inode64,logbufs=8", inodes=1_048_576_000)],
    }
    return extra.get(role, [])


# -- renderers (the formats of util-linux mount and coreutils df) ----------------------------------------
def _used(fs: Filesystem) -> tuple[int, int]:
    used = fs.size * fs.used_pct // 100
    return used, fs.size - used


def render_mount_l(filesystems: list[Filesystem]) -> str:
    lines = []
    for fs in filesystems:
        label = f" [{fs.label}]" if fs.label else ""
        lines.append(f"{fs.device} on {fs.target} type {fs.fstype} ({fs.options}){label}")
    return "\n".join(lines) + "\n"


def _pct(used: int, avail: int) -> str:
    return f"{math.ceil(used * 100 / (used + avail))}%" if used + avail else "-"


def render_df(filesystems: list[Filesystem]) -> str:
    lines = [f"{'Filesystem':<14} {'1K-blocks':>10} {'Used':>10} {'Available':>10} Use% Mounted on"]
    for fs in filesystems:
        used, avail = _used(fs)
        lines.append(f"{fs.device:<14} {fs.size // KIB:>10} {used // KIB:>10} {avail // KIB:>10} "
                     f"{_pct(used, avail):>4} {fs.target}")
    return "\n".join(lines) + "\n"


def render_df_inodes(filesystems: list[Filesystem]) -> str:
    lines = [f"{'Filesystem':<14} {'Inodes':>10} {'IUsed':>10} {'IFree':>10} IUse% Mounted on"]
    for fs in filesystems:
        iused = fs.inodes // 10
        ifree = fs.inodes - iused
        pct = _pct(iused, ifree)
        lines.append(f"{fs.device:<14} {fs.inodes:>10} {iused:>10} {ifree:>10} {pct:>5} {fs.target}")
    return "\n".join(lines) + "\n"


def _write_filesystems(node: NodeTree, filesystems: list[Filesystem]) -> None:
    # Earlier areas may have added mounts (network namespaces): the real filesystems come first, as in /proc.
    for key, render in (("mount -l", render_mount_l), ("df -al", render_df), ("df -ali", render_df_inodes)):
        node.command(key, render(filesystems) + _body(node.commands.get(key, "")))


def _body(existing: str) -> str:
    """An earlier area's df output without its header line (mount -l has none)."""
    lines = existing.splitlines(keepends=True)
    return "".join(lines[1:]) if lines and lines[0].startswith("Filesystem") else existing


# -- compute ---------------------------------------------------------------------------------------------
def instance_uuids(node: NodeTree) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node.hostname}-vm{i}")) for i in (1, 2)]


IMAGE_ID = "6c4a3f2e-1b7d-4e59-9a0c-3d2f8e1b5a77"
SNAPSHOT_ID = "b1e0c9d8-7a6f-4e5d-8c3b-2a1f0e9d8c7b"


def base_file(image_id: str) -> str:
    """nova's cache name for an image: sha1 of its id (nova/virt/libvirt/imagecache.py)."""
    return f"{INSTANCES}/_base/{hashlib.sha1(image_id.encode()).hexdigest()}"


NOVA_CONF = """[DEFAULT]
state_path = /var/lib/nova
instances_path = /var/lib/nova/instances
compute_driver = libvirt.LibvirtDriver
my_ip = {ip}
transport_url = rabbit://nova:*********@10.0.0.10:5672/
log_dir = /var/log/nova

[libvirt]
virt_type = kvm
images_type = qcow2

[image_cache]
# defaults: remove_unused_base_images = True, manager_interval = 2400, subdirectory_name = _base

[vnc]
enabled = True
server_listen = 0.0.0.0
"""

QEMU_CONF = """# Master configuration file for the QEMU driver.
#user = "libvirt-qemu"
#group = "kvm"
#
# Route guest stdout/stderr (console logs) through virtlogd, which rotates them.
#stdio_handler = "logd"
security_driver = "apparmor"
"""

VIRTLOGD_CONF = """# Master virtlogd daemon configuration file
#
# Maximum file size before rolling over. Defaults to 2 MB
#max_size = 2097152
#
# Maximum number of backup files to keep. Defaults to 3
#max_backups = 3
"""


def domain_xml(name: str, instance: str, image_id: str) -> str:
    """The running-domain XML libvirt keeps under /run (it names the backing chain, not just the disk)."""
    return f"""<domstatus state='running' reason='booted' pid='4242'>
  <domain type='kvm' id='1'>
    <name>{name}</name>
    <uuid>{instance}</uuid>
    <metadata>
      <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.0">
        <nova:package version="27.1.0"/>
        <nova:root type="image" uuid="{image_id}"/>
      </nova:instance>
    </metadata>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2' cache='none'/>
        <source file='{INSTANCES}/{instance}/disk' index='2'/>
        <backingStore type='file' index='3'>
          <format type='raw'/>
          <source file='{base_file(image_id)}'/>
          <backingStore/>
        </backingStore>
        <target dev='vda' bus='virtio'/>
      </disk>
      <serial type='pty'>
        <log file='{INSTANCES}/{instance}/console.log' append='off'/>
      </serial>
    </devices>
  </domain>
</domstatus>
"""


REQ = "[req-5b1e0c2d-7f3a-4c8e-9d6b-1a2f3e4d5c6b - - - - -]"
IMAGECACHE = f"nova.virt.libvirt.imagecache {REQ}"


def _nova_log(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def _append(node: NodeTree, path: str, text: str) -> None:
    node.file(path, node.files.get(path, "") + text)


def _compute(node: NodeTree) -> None:
    ip = next((a.split("/")[0] for i in node.interfaces if i.name == "eth0" for a in i.addrs), "10.0.0.31")
    node.file("etc/nova/nova.conf", NOVA_CONF.format(ip=ip))
    node.file("etc/libvirt/qemu.conf", QEMU_CONF)
    node.file("etc/libvirt/virtlogd.conf", VIRTLOGD_CONF)
    for n, instance in enumerate(instance_uuids(node), 1):
        name = f"instance-{n:08x}"
        node.file(f"run/libvirt/qemu/{name}.xml", domain_xml(name, instance, IMAGE_ID))
        node.sizes[f"{INSTANCES.lstrip('/')}/{instance}/console.log"] = 48 * KIB + n * 1000
    old = f"{INSTANCES}/_base/{hashlib.sha1(b'retired-image').hexdigest()}"
    # A normal cache pass: the image in use stays, one nobody uses any more is removed (CMP-002 trap).
    _append(node, "var/log/nova/nova-compute.log", _nova_log([
        f"2026-12-01 08:20:01.112 2931 INFO nova.compute.manager {REQ} Running periodic task "
        "ComputeManager._run_image_cache_manager_pass",
        f"2026-12-01 08:20:01.442 2931 INFO {IMAGECACHE} Active base files: {base_file(IMAGE_ID)}",
        f"2026-12-01 08:20:01.443 2931 WARNING {IMAGECACHE} Unknown base file: {old}",
        f"2026-12-01 08:20:01.445 2931 INFO {IMAGECACHE} Removable base files: {old}",
        f"2026-12-01 08:20:01.447 2931 INFO {IMAGECACHE} Removing base or swap file: {old}",
    ]))


# -- controller (telemetry) ------------------------------------------------------------------------------
CEILOMETER_CONF = """[DEFAULT]
transport_url = rabbit://ceilometer:*********@10.0.0.10:5672/

[notification]
workers = 2

[service_credentials]
auth_type = password
auth_url = http://10.0.0.10:5000/v3
username = ceilometer
password = *********
"""

PIPELINE_YAML = """---
sources:
    - name: meter_source
      meters:
          - "*"
      sinks:
          - meter_sink
sinks:
    - name: meter_sink
      publishers:
          - gnocchi://?filter_project=service&archive_policy=low
"""

AODH_CONF = """[DEFAULT]
transport_url = rabbit://aodh:*********@10.0.0.10:5672/

[database]
connection = mysql+pymysql://aodh:*********@10.0.0.10/aodh
alarm_history_time_to_live = 2592000

[evaluator]
evaluation_interval = 60
"""

AODH_CRON = "# Expire alarm history older than alarm_history_time_to_live\n" \
            "0 3 * * * aodh /usr/bin/aodh-expirer >> /var/log/aodh/aodh-expirer.log 2>&1\n"

LEGACY_CEILOMETER_CONF = """[DEFAULT]
transport_url = rabbit://ceilometer:*********@10.0.0.10:5672/
meter_dispatchers = database
event_dispatchers = database

[database]
connection = mongodb://ceilometer:*********@10.0.0.10:27017/ceilometer
metering_time_to_live = -1
event_time_to_live = -1
"""


def _controller(node: NodeTree) -> None:
    node.file("etc/ceilometer/ceilometer.conf", CEILOMETER_CONF)
    node.file("etc/ceilometer/pipeline.yaml", PIPELINE_YAML)
    node.file("etc/aodh/aodh.conf", AODH_CONF)
    node.file("etc/cron.d/aodh-expirer", AODH_CRON)


def healthy(node: NodeTree, role: str) -> None:
    _write_filesystems(node, _base_filesystems() + _role_filesystems(role))
    if role == "compute":
        _compute(node)
    elif role == "controller":
        _controller(node)


# -- faults ----------------------------------------------------------------------------------------------
def _collected_epoch(node: NodeTree) -> float:
    return datetime.strptime(node.collected, "%a %b %d %H:%M:%S %Z %Y").replace(tzinfo=UTC).timestamp()


def _replace_line(node: NodeTree, key: str, target: str, new_line: str) -> None:
    lines = node.commands[key].splitlines()
    out = [new_line if line.split()[-1:] == [target] or f" on {target} type " in line else line
           for line in lines]
    node.commands[key] = "\n".join(out) + "\n"


def plant_shared_instances(node: NodeTree) -> None:
    """CMP-001: instances_path on an NFS export shared with other computes, image-cache removal left on."""
    export = "10.0.0.41:/export/nova-instances"
    _replace_line(node, "mount -l", INSTANCES,
                  f"{export} on {INSTANCES} type nfs4 (rw,relatime,vers=4.2,rsize=1048576,wsize=1048576,"
                  "namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.31,local_lock=none,"
                  "addr=10.0.0.41)")
    share = Filesystem(export, INSTANCES, "nfs4", 2000 * GIB, inodes=131_072_000)
    _replace_line(node, "df -al", INSTANCES, render_df([share]).splitlines()[1])
    _replace_line(node, "df -ali", INSTANCES, render_df_inodes([share]).splitlines()[1])
    # compute_nodes, as nova writes it: one compute down for three days no longer protects its images.
    now = _collected_epoch(node)
    users = {node.hostname: now - 600, "compute-4": now - 3 * 86400}
    node.file(f"{INSTANCES.lstrip('/')}/compute_nodes", json.dumps(users))


def plant_removed_backing(node: NodeTree) -> None:
    """CMP-002: the cache removed the base of a snapshot an instance still runs on; the restart then fails."""
    instance = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{node.hostname}-vm-snapshot"))
    name = "instance-0000002a"
    base = base_file(SNAPSHOT_ID)
    node.file(f"run/libvirt/qemu/{name}.xml", domain_xml(name, instance, SNAPSHOT_ID))
    _append(node, "var/log/nova/nova-compute.log", _nova_log([
        f"2026-12-01 08:40:01.447 2931 INFO {IMAGECACHE} Removing base or swap file: {base}",
        f"2026-12-01 08:52:13.901 2931 ERROR nova.compute.manager {REQ} [instance: {instance}] Cannot reboot "
        f"instance: libvirt.libvirtError: Cannot access backing file '{base}' of storage file "
        f"'{INSTANCES}/{instance}/disk' (as uid:64055, gid:108): No such file or directory",
    ]))


def plant_big_console_log(node: NodeTree) -> None:
    """CON-003: a guest console log of 5.5 GB, and QEMU writing console logs itself (no virtlogd rotation)."""
    first = instance_uuids(node)[0]
    node.sizes[f"{INSTANCES.lstrip('/')}/{first}/console.log"] = 5_905_580_032
    node.file("etc/libvirt/qemu.conf", QEMU_CONF.replace('#stdio_handler = "logd"', 'stdio_handler = "file"'))


def plant_legacy_ceilometer(node: NodeTree) -> None:
    """TEL-001: pre-Queens Ceilometer storing samples in MongoDB forever."""
    node.file("etc/ceilometer/ceilometer.conf", LEGACY_CEILOMETER_CONF)


def plant_full_filesystem(node: NodeTree) -> None:
    """STO-003: the node's main data filesystem (swift device, MySQL, instances, else /) at 97%."""
    table = parse_df(Text("df", node.commands["df -al"]))
    devices = [r.target for r in table.rows if r.target.startswith("/srv/node/")]
    target = next(iter(devices), None) or next(
        (t for t in ("/var/lib/mysql", INSTANCES) if table.at(t) is not None), "/")
    row = table.at(target)
    assert row is not None and row.total
    full = Filesystem(row.filesystem, target, "", row.total, used_pct=FULL_PCT)
    _replace_line(node, "df -al", target, render_df([full]).splitlines()[1])


FAULTS: dict[str, Callable[[NodeTree], None]] = {
    "CMP-001": plant_shared_instances,
    "CMP-002": plant_removed_backing,
    "CON-003": plant_big_console_log,
    "TEL-001": plant_legacy_ceilometer,
    "STO-003": plant_full_filesystem,
}
