"""Fleet benchmark: `stackrx fleet` over 1000 sosreport-shaped nodes, and the SSH fan-out rate.

    python bench/fleet.py                     # 1000 nodes under bench/.work/fleet-1000/ (built once, reused)
    python bench/fleet.py --nodes 200         # quicker
    python bench/fleet.py --ssh-hosts 0       # skip the SSH part

Nodes are the demo cloud's roles cloned with their own hostnames and addresses (build_node), with a few
cross-node faults planted: a second L3HA primary, a duplicated OVN system-id, one uplink with a smaller MTU,
two computes sharing an NFS instances path. `stackrx fleet DIR` runs as a child process; the bench reports
its wall time, its peak memory two ways (the sum of RSS over the child's whole process tree, sampled from
/proc every 50 ms; and getrusage(RUSAGE_CHILDREN).ru_maxrss, the largest single process), and the findings.

The SSH part (root and /usr/sbin/sshd needed; it reuses tests/fleet/fleet_sshd.py) starts a few chrooted
sftp-only loopback sshds holding node trees and lists each of them under several inventory names, then times
`stackrx fleet INVENTORY --only OVN-F01` so collection dominates: hosts per second, end to end.
Target: 1000 nodes in < 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
TESTS = ROOT / "tests" / "fleet"
sys.path.insert(0, str(TESTS))

import fleet_scenarios as S  # noqa: E402  (the tests' fault helpers, shared on purpose)

from stackrx.demo.builder import NodeTree  # noqa: E402
from stackrx.demo.cloud import DemoNode, build_node  # noqa: E402

STACKRX = [str(Path(sys.executable).with_name("stackrx"))]
PLANTED = {"HA-F01", "OVN-F01", "NET-F01", "CMP-F01"}


def _roles(count: int) -> list[tuple[str, str]]:
    """(name, role): 3 controllers, 1 network node in 50 (at least 2), 1 storage node in 40, computes."""
    networks = max(2, count // 50)
    storage = max(1, count // 40)
    computes = max(2, count - 3 - networks - storage)
    names = [(f"controller-{i}", "controller") for i in range(1, 4)]
    names += [(f"network-{i}", "network") for i in range(1, networks + 1)]
    names += [(f"storage-{i}", "storage") for i in range(1, storage + 1)]
    names += [(f"compute-{i:04d}", "compute") for i in range(1, computes + 1)]
    return names[:count] if count >= 7 else names


def _ip(index: int) -> str:
    return f"10.{index // 250 // 250 + 1}.{index // 250 % 250}.{index % 250 + 2}"


def build_fleet(count: int, dest: Path) -> Path:
    """dest/<hostname>/ per node; reused when a previous run built the same count."""
    stamp = dest / ".complete"
    if stamp.is_file() and stamp.read_text() == str(count):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    started = time.monotonic()
    trees: dict[str, NodeTree] = {}
    for index, (name, role) in enumerate(_roles(count)):
        ip = _ip(index)
        trees[name] = build_node(DemoNode(name, role, ip, ()), faults=())
    computes = sorted(n for n in trees if n.startswith("compute-"))
    S.second_primary(trees["network-2"], trees["network-1"])
    S.system_id(trees[computes[-1]], computes[0])
    S.uplink_mtu(trees[computes[1]], 1400)
    S.shared_instances(trees[computes[2]], trees[computes[3]])
    for name, tree in trees.items():
        tree.write(dest / name)
    stamp.write_text(str(count))
    print(f"built {count} node trees in {time.monotonic() - started:.1f} s under {dest}")
    return dest


def _tree_rss_kib(pid: int) -> int:
    """Sum of VmRSS over pid and every descendant (/proc/*/stat parent links)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
            with open(f"/proc/{entry.name}/statm") as fh:
                pages = int(fh.read().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        child = int(entry.name)
        parents[child] = int(stat.rsplit(")", 1)[1].split()[1])
        rss[child] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(p, 0) for p in tree)


def timed(argv: list[str]) -> tuple[float, int, int, subprocess.CompletedProcess[bytes]]:
    """Run argv; wall seconds, peak summed RSS of its process tree (KiB, sampled), its largest process (KiB)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak, largest, subprocess.CompletedProcess(argv, proc.returncode, out, err)


def findings(report_path: Path) -> tuple[int, Counter[str], int]:
    report = json.loads(report_path.read_text())
    bad = [r for r in report["results"] if r["status"] in ("fail", "warn")]
    cross = Counter(r["check_id"] for r in bad if r["check_id"].endswith("-F01") or r["check_id"].endswith("-F02"))
    errors = sum(1 for r in report["results"] if r["status"] == "error")
    return len(bad), cross, errors


def bench_dir(count: int, workers: int) -> None:
    nodes = build_fleet(count, WORK / f"fleet-{count}")
    out = WORK / f"fleet-{count}.json"
    argv = [*STACKRX, "fleet", str(nodes), "--format", "json", "-o", str(out), "--workers", str(workers)]
    wall, peak, largest, proc = timed(argv)
    if proc.returncode not in (0, 3):
        sys.exit(f"stackrx fleet failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    total, cross, errors = findings(out)
    print(f"stackrx fleet over {count} node trees: {wall:.1f} s wall ({count / wall:.0f} nodes/s), exit "
          f"{proc.returncode}")
    print(f"  peak RSS, whole process tree (sum, /proc sampled): {peak / 1024:.0f} MiB; largest single process "
          f"(RUSAGE_CHILDREN ru_maxrss): {largest / 1024:.0f} MiB")
    print(f"  findings (fail/warn): {total}; cross-node: {dict(sorted(cross.items()))}; errors: {errors}")
    missed = PLANTED - set(cross)
    if missed:
        print(f"  planted cross-node faults NOT found: {sorted(missed)}")


def bench_ssh(hosts: int, servers: int, parallel: int) -> None:
    try:
        import fleet_sshd
    except ImportError as exc:
        print(f"SSH fan-out skipped: tests/fleet/fleet_sshd.py not importable ({exc})")
        return
    reason = fleet_sshd.available()
    if reason:
        print(f"SSH fan-out skipped: {reason}")
        return
    work = WORK / "fleet-ssh"
    shutil.rmtree(work, ignore_errors=True)
    lab = fleet_sshd.SshdLab(work)
    try:
        started = []
        for i in range(servers):
            name = f"compute-{i + 1:04d}"
            tree = build_node(DemoNode(name, "compute", _ip(i), ()), faults=())
            root = S.as_node_root(tree, lab.chroot_dir(name))
            started.append(lab.start(name, chroot=root))
        known = lab.known_hosts(work / "known_hosts", started)
        inventory = {"all": {"hosts": {
            f"node-{i:04d}": {"ansible_host": "127.0.0.1", "ansible_port": started[i % servers].port,
                              "ansible_user": "root", "ansible_ssh_private_key_file": str(lab.client_key)}
            for i in range(hosts)}}}
        (work / "inventory.yml").write_text(json.dumps(inventory))
        out = work / "report.json"
        argv = [*STACKRX, "fleet", str(work / "inventory.yml"), "--known-hosts", str(known), "--only", "OVN-F01",
                "--parallel", str(parallel), "--format", "json", "-o", str(out)]
        wall, peak, _largest, proc = timed(argv)
        if proc.returncode not in (0, 3):
            print(f"SSH fan-out: stackrx fleet failed ({proc.returncode}): {proc.stderr.decode()[-1500:]}")
            return
        report = json.loads(out.read_text())
        failed = [r for r in report["results"] if r["check_id"] == "FLEET-HOST" and r["status"] == "error"]
        print(f"SSH fan-out: {hosts} inventory hosts over {servers} loopback sshds, --parallel {parallel}: "
              f"{wall:.1f} s, {hosts / wall:.1f} hosts/s (collection + per-node checks, ansible-inventory "
              f"included); peak tree RSS {peak / 1024:.0f} MiB; hosts not collected: {len(failed)}")
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=0, help="stackrx fleet --workers (0: one per CPU)")
    parser.add_argument("--ssh-hosts", type=int, default=100, help="inventory hosts for the SSH part (0: skip)")
    parser.add_argument("--ssh-servers", type=int, default=10, help="loopback sshd instances behind them")
    parser.add_argument("--parallel", type=int, default=16, help="stackrx fleet --parallel for the SSH part")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    bench_dir(args.nodes, args.workers)
    if args.ssh_hosts > 0:
        bench_ssh(args.ssh_hosts, max(1, min(args.ssh_servers, args.ssh_hosts)), args.parallel)


if __name__ == "__main__":
    main()
