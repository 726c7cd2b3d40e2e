"""A real sosreport with its key files replaced by junk still scans: clear results, no traceback."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from stackrx.engine import load_all_checks, scan_host, select_checks
from stackrx.models import Status
from stackrx.sources.sosreport import SosReportView

VICTIMS = (
    "sos_commands/kernel/sysctl_-a",
    "sos_commands/networking/ip_-d_address",
    "sos_commands/networking/ip_-s_-d_link",
    "sos_commands/openvswitch/ovs-vsctl_-t_5_show",
    "sos_commands/openvswitch/ovs-vsctl_-t_5_list_Open_vSwitch",
    "sos_commands/filesys/df_-al_-x_autofs",
    "sos_commands/kernel/lsmod",
    "etc/nova/nova.conf",
    "etc/neutron/plugins/ml2/openvswitch_agent.ini",
    "var/lib/neutron/ha_confs/984c22fd-64b3-4fa1-8ddd-87090f401ce5/keepalived.conf",
    "var/log/kern.log",
)


def test_junk_evidence_never_breaks_the_scan(tmp_path: Path, compute4: Path) -> None:
    tree = tmp_path / "node"
    shutil.copytree(compute4, tree, symlinks=True)
    rng = random.Random(99)
    for rel in VICTIMS:
        path = tree / rel
        if path.exists():
            path.chmod(0o644)
            path.write_bytes(rng.randbytes(3000) + b"\n[x\n" + b"\xff" * 100 + b"=" * 20000)
    checks = select_checks(load_all_checks())
    results = scan_host(SosReportView(tree), checks)
    assert {r.check_id for r in results} == {c.meta.id for c in checks}, "every check reports"
    for r in results:
        if r.status is Status.error:
            assert r.evidence and r.evidence[0].source, f"{r.check_id} error must name its file: {r.message}"
            assert "Traceback" not in r.message
