"""Catalogue tales planted one at a time in a real compute-node sosreport: does stackrx find each one?

    uv run --frozen python bench/tales.py                # stackrx only
    uv run --frozen python bench/tales.py --hotsos       # also hotsos on every tree (~20 s each)

Each fault gets a fresh copy of the compute4 sosreport under bench/.work/tales/ and one small edit of the copy's
real files, in the shape the tree already has (sysctl -a, ip -d link, df, nova.conf, kern.log, ...). The
unmodified copy is the healthy baseline and must show nothing at medium or above. Exit 1 when a fault is missed
or the healthy node has a finding at medium or above.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "shared" / "realdata" / "hotsos" / "openstack-compute4-sosreport"
WORK = HERE / ".work" / "tales"
HOTSOS = HERE / ".venv-hotsos" / "bin" / "hotsos"
MEDIUM_UP = {"medium", "high", "critical"}

# Identifiers that exist in the real tree: the L3HA router, the one running guest and its tap.
ROUTER = "984c22fd-64b3-4fa1-8ddd-87090f401ce5"
INSTANCE = "d1d75e2f-ada4-49bc-a963-528d89dfda25"
TAP = "tap0e778df8-ca"
NOVA_PID = 53085  # nova-compute's pid in ps and in the rotated log
REQ = "[req-5b0e4c1a-2f7d-4c55-9a0e-3c1d7e9f0a11 - - - - -]"
BASE = "/var/lib/nova/instances/_base/6f1c4d3a2b9e8f7a6c5d4e3b2a1f0e9d8c7b6a54"

IP_LINK = "sos_commands/networking/ip_-s_-d_link"
IP_ADDR = "sos_commands/networking/ip_-d_address"
SYSCTL = "sos_commands/kernel/sysctl_-a"
DF = "sos_commands/filesys/df_-al_-x_autofs"
NOVA_CONF = "etc/nova/nova.conf"
NOVA_LOG = "var/log/nova/nova-compute.log"  # the tree only has the rotated .1.gz: this is today's file
KERN_LOG = "var/log/kern.log"


# -- editing helpers: every patch must match the real text, else the fault would silently not be planted -------
def _read(tree: Path, rel: str) -> str:
    return (tree / rel).read_text(errors="replace")


def _write(tree: Path, rel: str, text: str) -> None:
    path = tree / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)


def _sub(tree: Path, rel: str, pattern: str, repl: str, flags: int = 0) -> None:
    text, n = re.subn(pattern, repl, _read(tree, rel), count=1, flags=flags)
    if n != 1:
        raise RuntimeError(f"patch did not apply: {pattern!r} not in {rel}")
    _write(tree, rel, text)


def _append(tree: Path, rel: str, text: str) -> None:
    old = _read(tree, rel) if (tree / rel).exists() else ""
    _write(tree, rel, old + ("" if not old or old.endswith("\n") else "\n") + text)


def _ini_set(tree: Path, rel: str, section: str, line: str) -> None:
    """Add a line right under an existing [section] header."""
    _sub(tree, rel, rf"^\[{re.escape(section)}\]\n", f"[{section}]\n{line}\n", re.MULTILINE)


def _nova_log(tree: Path, lines: list[str]) -> None:
    _append(tree, NOVA_LOG, "".join(f"{ln}\n" for ln in lines))


def _kern(tree: Path, lines: list[str]) -> None:
    # The real log ends at 16:19:14, [63667 s] since boot; these lines land ten minutes before collection.
    _append(tree, KERN_LOG, "".join(f"Feb 10 16:09:{n * 5:02d} compute4 kernel: [{63067 + n * 5}.{n * 1117:06d}] "
                                    f"{msg}\n" for n, msg in enumerate(lines)))


# -- faults ------------------------------------------------------------------------------------------------------
def conntrack_full(tree: Path) -> None:
    """NET-001: conntrack at 98.5% of its limit, and the kernel dropping new flows."""
    _sub(tree, SYSCTL, r"net\.netfilter\.nf_conntrack_count = \d+", "net.netfilter.nf_conntrack_count = 985112")
    _kern(tree, ["nf_conntrack: nf_conntrack: table full, dropping packet"] * 3)


def _vlan_link(idx: int, name: str, parent: str, vid: int, stats: bool) -> str:
    mode = " mode DEFAULT" if stats else ""
    gen = "addrgenmode eui64 " if stats else ""
    out = [f"{idx}: {name}@{parent}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP{mode} "
           "group default qlen 1000",
           "    link/ether 52:54:00:bb:47:e2 brd ff:ff:ff:ff:ff:ff promiscuity 0 minmtu 0 maxmtu 65535 ",
           f"    vlan protocol 802.1Q id {vid} <REORDER_HDR> {gen}numtxqueues 1 numrxqueues 1 gso_max_size 65536 "
           "gso_max_segs 65535 "]
    if stats:
        out += ["    RX: bytes  packets  errors  dropped overrun mcast   ",
                "    0          0        0       0       0       0       ",
                "    TX: bytes  packets  errors  dropped carrier collsns ",
                "    0          0        0       0       0       0       "]
    return "\n".join(out) + "\n"


def vlan_on_vlan(tree: Path) -> None:
    """NET-003 'Double VLAN': VLAN 100 built on VLAN sub-interface ens4.20."""
    for rel, stats in ((IP_LINK, True), (IP_ADDR, False)):
        _append(tree, rel, _vlan_link(60, "ens4.20", "ens4", 20, stats)
                + _vlan_link(61, "ens4.20.100", "ens4.20", 100, stats))


def uplink_mtu_small(tree: Path) -> None:
    """NET-004 'random SSH freezes': physnet1's uplink ens7 at MTU 1400, below neutron's 1500."""
    for rel in (IP_LINK, IP_ADDR):
        _sub(tree, rel, r"(\d+: ens7: <[^>]*> mtu) 1500", r"\1 1400")


def address_on_bridge_port(tree: Path) -> None:
    """NET-005: the OVS-enslaved physnet NIC ens7 kept an IPv4 address."""
    _sub(tree, IP_ADDR, r"(\d+: ens7: .*\n(?:    .*\n){2})",
         r"\g<1>    inet 172.24.4.50/24 brd 172.24.4.255 scope global ens7\n"
         r"       valid_lft forever preferred_lft forever\n")


def proxy_arp_uplink(tree: Path) -> None:
    """SEC-001: proxy ARP turned on on the provider uplink ens7 (and persisted)."""
    _sub(tree, SYSCTL, r"net\.ipv4\.conf\.ens7\.proxy_arp = 0", "net.ipv4.conf.ens7.proxy_arp = 1")
    _write(tree, "etc/sysctl.d/60-floating-ip.conf", "net.ipv4.conf.ens7.proxy_arp = 1\n")


def _local_images(tree: Path) -> None:
    # The real node keeps disks in RBD, where nova's image cache is not used; the cache tales need local qcow2.
    _sub(tree, NOVA_CONF, r"^images_type = rbd$", "images_type = qcow2", re.MULTILINE)


def shared_instances(tree: Path) -> None:
    """CMP-001: instances_path on an NFS share used by other computes, image-cache removal on (default)."""
    _local_images(tree)
    _sub(tree, DF, r"^/dev/dm-2( +\d+ +\d+ +\d+ +\d+% /var/lib/nova/instances)$",
         r"10.0.0.41:/export/nova\1", re.MULTILINE)
    _write(tree, "sos_commands/filesys/mount_-l",
           "/dev/vda2 on / type ext4 (rw,relatime)\n"
           "10.0.0.41:/export/nova on /var/lib/nova/instances type nfs4 (rw,relatime,vers=4.2,rsize=1048576,"
           "wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.128,"
           "local_lock=none,addr=10.0.0.41)\n")


def removed_backing(tree: Path) -> None:
    """CMP-002: the image cache removed a base file, then the instance's disk could not find its backing file."""
    _local_images(tree)
    _nova_log(tree, [
        f"2022-02-10 15:40:01.447 {NOVA_PID} INFO nova.virt.libvirt.imagecache {REQ} Removing base or swap file: "
        f"{BASE}",
        f"2022-02-10 15:52:13.901 {NOVA_PID} ERROR nova.compute.manager {REQ} [instance: {INSTANCE}] Cannot reboot "
        f"instance: libvirt.libvirtError: Cannot access backing file '{BASE}' of storage file "
        f"'/var/lib/nova/instances/{INSTANCE}/disk' (as uid:64055, gid:108): No such file or directory",
    ])


def big_console_log(tree: Path) -> None:
    """CON-003: a 5.5 GB guest console.log (sparse here) under the instances path."""
    path = tree / "var/lib/nova/instances" / INSTANCE / "console.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.truncate(5_905_580_032)


def full_filesystem(tree: Path) -> None:
    """STO-003: the root filesystem (holding /var/lib/nova, logs, neutron state) at 97%."""
    _sub(tree, DF, r"^/dev/vda2 +308585260 +\d+ +\d+ +\d+% /$",
         "/dev/vda2      308585260 291000000   9000000  97% /", re.MULTILINE)


def ha_rogue_primary(tree: Path) -> None:
    """HA-001: the L3HA router's state file says primary while keepalived is backup and no VIP is present."""
    _write(tree, f"var/lib/neutron/ha_confs/{ROUTER}/state", "primary")


def bond_lost_members(tree: Path) -> None:
    """NET-007: a bond lost every member (kernel log)."""
    _kern(tree, ["bond0: (slave ens8): link status definitely down, disabling slave",
                 "bond0: (slave ens9): link status definitely down, disabling slave",
                 "bond0: now running without any active interface!"])


def tap_tx_drops(tree: Path) -> None:
    """NET-009: the guest's tap drops 12% of its TX packets."""
    _sub(tree, IP_LINK, rf"({TAP}: (?:.*\n){{6}}    TX: .*\n)    10379      108      0       0 ",
         r"\g<1>    1037900    10800    0       1300 ")


def no_image_inspection(tree: Path) -> None:
    """IMG-002: nova's deep image format inspection switched off."""
    _ini_set(tree, NOVA_CONF, "workarounds", "disable_deep_image_inspection = True")


def shared_rotating_log(tree: Path) -> None:
    """LOG-001: oslo.log size rotation in nova.conf, so the 5 nova-api-metadata processes each rotate one file."""
    _ini_set(tree, NOVA_CONF, "DEFAULT", "log_rotation_type = size\nmax_logfile_size_mb = 200")


def shared_rotating_log_config(tree: Path) -> None:
    """LOG-001 via log_config_append: every nova process logs to nova.log through one RotatingFileHandler."""
    # oslo.log ignores log_file and --log-file once log_config_append is set: the handler's file is the target.
    _ini_set(tree, NOVA_CONF, "DEFAULT", "log_config_append = /etc/nova/logging.conf")
    _write(tree, "etc/nova/logging.conf",
           "[loggers]\nkeys = root\n\n[handlers]\nkeys = rotating\n\n[formatters]\nkeys = plain\n\n"
           "[logger_root]\nlevel = INFO\nhandlers = rotating\n\n"
           "[handler_rotating]\nclass = logging.handlers.RotatingFileHandler\nformatter = plain\n"
           "args = ('/var/log/nova/nova.log', 'a', 104857600, 5)\n\n"
           "[formatter_plain]\nformat = %(asctime)s %(process)d %(levelname)s %(name)s %(message)s\n")


def console_output_flood(tree: Path) -> None:
    """MQ-002: one guest's console log fetched 90 times in an hour."""
    _nova_log(tree, [f"2022-02-10 15:{i * 40 // 60:02d}:{i * 40 % 60:02d}.{i:03d} {NOVA_PID} INFO "
                     f"nova.virt.libvirt.driver {REQ} [instance: {INSTANCE}] Truncated console log returned, "
                     "5905477632 bytes ignored" for i in range(90)])


def ceilometer_no_ttl(tree: Path) -> None:
    """TEL-001: legacy ceilometer storing samples in MongoDB with no time-to-live."""
    _write(tree, "etc/ceilometer/ceilometer.conf",
           "[DEFAULT]\ntransport_url = *********\nmeter_dispatchers = database\n\n"
           "[database]\nconnection = mongodb://ceilometer:*********@10.0.0.110:27017/ceilometer\n")


def removed_option(tree: Path) -> None:
    """UPG-006: [DEFAULT] default_floating_pool, silently dropped by nova 21 (installed 21.2.3)."""
    _ini_set(tree, NOVA_CONF, "DEFAULT", "default_floating_pool = ext_net")


def spice_half_configured(tree: Path) -> None:
    """CON-001: SPICE switched on at the compute while VNC stays on and the proxy URL keeps its localhost default."""
    _append(tree, NOVA_CONF, "\n[spice]\nenabled = True\nagent_enabled = True\n")


def keepalived_flapping(tree: Path) -> None:
    """HA-002: the node's L3HA router (VR_24) flips between MASTER and BACKUP every few minutes."""
    states = ("MASTER", "BACKUP") * 4
    _append(tree, "var/log/syslog", "".join(
        f"Feb 10 16:{11 + 2 * n:02d}:07 compute4 Keepalived_vrrp[1775814]: (VR_24) Entering {state} STATE\n"
        for n, state in enumerate(states)))


def ovn_chassis_without_encap_ip(tree: Path) -> None:
    """OVN-001: an OVN chassis (ovn-controller running) registered without external_ids:ovn-encap-ip.

    The real node runs ML2/OVS, so turning it into a chassis also (rightly) raises OVN-003 (no geneve module
    loaded) and OVN-007 (the OVS agent's patch ports are still there).
    """
    _sub(tree, "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch", r"(external_ids +: \{hostname=\S+, )",
         r'\g<1>ovn-encap-type=geneve, ovn-remote="tcp:10.0.0.10:6642", ')
    _append(tree, "sos_commands/process/ps_auxwwwm",
            "root        1904  0.3  0.1  60212 14876 ?        -    Feb09   4:12 ovn-controller "
            "unix:/var/run/openvswitch/db.sock -vconsole:emer -vsyslog:err -vfile:info --no-chdir "
            "--log-file=/var/log/ovn/ovn-controller.log --pidfile=/var/run/ovn/ovn-controller.pid --detach\n")


FAULTS: list[tuple[str, Callable[[Path], None]]] = [
    ("NET-001", conntrack_full),
    ("NET-003", vlan_on_vlan),
    ("NET-004", uplink_mtu_small),
    ("NET-005", address_on_bridge_port),
    ("SEC-001", proxy_arp_uplink),
    ("CMP-001", shared_instances),
    ("CMP-002", removed_backing),
    ("CON-003", big_console_log),
    ("STO-003", full_filesystem),
    ("HA-001", ha_rogue_primary),
    ("NET-007", bond_lost_members),
    ("NET-009", tap_tx_drops),
    ("IMG-002", no_image_inspection),
    ("LOG-001", shared_rotating_log),
    ("LOG-001", shared_rotating_log_config),
    ("MQ-002", console_output_flood),
    ("TEL-001", ceilometer_no_ttl),
    ("UPG-006", removed_option),
    ("CON-001", spice_half_configured),
    ("HA-002", keepalived_flapping),
    ("OVN-001", ovn_chassis_without_encap_ip),
]


# -- running -----------------------------------------------------------------------------------------------------
@dataclass
class Run:
    name: str
    expected: str
    findings: set[str] = field(default_factory=set)
    seconds: float = 0.0
    hotsos: str = ""

    @property
    def found(self) -> bool:
        return self.expected in self.findings

    @property
    def extra(self) -> list[str]:
        return sorted(self.findings - {self.expected})


def fresh_copy(name: str) -> Path:
    dest = WORK / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SOURCE, dest, symlinks=True)
    return dest


def stackrx_cmd() -> list[str]:
    found = shutil.which("stackrx")
    return [found] if found else [sys.executable, "-m", "stackrx"]


def scan(tree: Path) -> tuple[set[str], float]:
    t0 = time.perf_counter()
    proc = subprocess.run([*stackrx_cmd(), "scan", str(tree), "--format", "json"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    elapsed = time.perf_counter() - t0
    try:
        results = json.loads(proc.stdout)["results"]
    except (ValueError, KeyError) as exc:
        raise SystemExit(f"stackrx scan {tree} exited {proc.returncode}: {proc.stderr[-2000:]}") from exc
    return {r["check_id"] for r in results
            if r["status"] in ("fail", "warn") and r["severity"] in MEDIUM_UP and not r.get("muted")}, elapsed


def issue_texts(node: object, out: set[str], inside: bool = False) -> None:
    """Every string under a potential-issues or bugs-detected key, at any depth of hotsos's per-plugin summary."""
    if isinstance(node, dict):
        for key, value in node.items():
            hit = inside or key in ("potential-issues", "bugs-detected")
            if hit and isinstance(value, str):
                out.add(f"{key}: {value}")
            else:
                issue_texts(value, out, hit)
    elif isinstance(node, list):
        for item in node:
            if inside and isinstance(item, str):
                out.add(item)
            else:
                issue_texts(item, out, inside)


def hotsos_issues(tree: Path) -> tuple[set[str] | None, float]:
    """hotsos's potential-issues and bugs-detected entries for a tree (None when its output is unreadable)."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(HOTSOS), "--format", "json", str(tree)], capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    start = proc.stdout.find("{")  # hotsos prints an "INFO: analysing ..." line before the JSON
    try:
        doc = json.loads(proc.stdout[start:]) if start >= 0 else None
    except ValueError:
        doc = None
    if doc is None:
        return None, elapsed
    issues: set[str] = set()
    issue_texts(doc, issues)
    return issues, elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hotsos", action="store_true",
                    help="also run hotsos on every tree (about 20 s each) and count its new issue entries")
    ap.add_argument("--only", nargs="*", default=[], help="plant only these check ids")
    args = ap.parse_args()
    if not SOURCE.is_dir():
        sys.exit(f"no sosreport at {SOURCE}")
    if args.hotsos and not HOTSOS.exists():
        sys.exit(f"no hotsos at {HOTSOS}: run bench/hotsos_compare.py once to install it")

    healthy = Run("healthy", "-")
    tree = fresh_copy("healthy")
    healthy.findings, healthy.seconds = scan(tree)
    hs_base: set[str] | None = set()
    if args.hotsos:
        hs_base, hs_time = hotsos_issues(tree)
        healthy.hotsos = f"{len(hs_base) if hs_base is not None else '?'} entries, {hs_time:.1f} s"

    runs: list[Run] = []
    for check_id, plant in FAULTS:
        if args.only and check_id not in args.only:
            continue
        run = Run(plant.__name__, check_id)
        tree = fresh_copy(f"{check_id}-{plant.__name__}")
        plant(tree)
        run.findings, run.seconds = scan(tree)
        if args.hotsos:
            issues, hs_time = hotsos_issues(tree)
            new = "?" if issues is None or hs_base is None else str(len(issues - hs_base))
            run.hotsos = f"{len(issues) if issues is not None else '?'} entries, {new} new, {hs_time:.1f} s"
        runs.append(run)
        shutil.rmtree(tree)  # the console-log tale leaves a 5.5 GB sparse file: do not keep copies around

    hs_col = "  hotsos" if args.hotsos else ""
    print(f"{'fault':<28} {'expected':<9} {'found':<6} {'extra ≥ medium':<28} {'s':>5}{hs_col}")
    for run in [healthy, *runs]:
        found = "-" if run is healthy else ("yes" if run.found else "NO")
        extra = ", ".join(sorted(run.findings) if run is healthy else run.extra) or "-"
        hs = f"  {run.hotsos}" if args.hotsos else ""
        print(f"{run.name:<28} {run.expected:<9} {found:<6} {extra:<28} {run.seconds:5.2f}{hs}")
    found_n = sum(r.found for r in runs)
    median = statistics.median([r.seconds for r in [healthy, *runs]])
    print(f"found {found_n} of {len(runs)}, healthy node: {len(healthy.findings)} findings ≥ medium, "
          f"median scan {median:.2f} s")
    return 0 if found_n == len(runs) and not healthy.findings else 1


if __name__ == "__main__":
    raise SystemExit(main())
