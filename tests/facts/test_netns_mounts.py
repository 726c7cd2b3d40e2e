from __future__ import annotations

from pathlib import Path

import pytest

from stackrx.demo.builder import NodeTree
from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.netns_mounts import load_largest_namespace, load_mount_census, parse_mountinfo
from stackrx.sources.base import Text
from stackrx.sources.sosreport import SosReportView

MOUNTINFO = """22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 22 0:25 / /run rw,nosuid shared:5 - tmpfs tmpfs rw
41 30 0:4 net:[4026532385] /run/netns/qrouter-1 rw shared:9 - nsfs nsfs rw
42 30 0:49 / /var/lib/docker/overlay2/x/merged rw master:3 - overlay overlay rw
43 22 0:50 / /mnt/with\\040space rw - tmpfs tmpfs rw
"""


def test_parse_mountinfo() -> None:
    entries = parse_mountinfo(Text("proc/self/mountinfo", MOUNTINFO))
    assert len(entries) == 5
    assert entries[2].fstype == "nsfs" and entries[2].target == "/run/netns/qrouter-1"
    assert entries[3].propagation == ("master:3",) and entries[4].target == "/mnt/with space"
    with pytest.raises(ParseError):
        parse_mountinfo(Text("x", "not a mount\n"))


def test_compute4_df_census(compute4: Path) -> None:
    census = load_mount_census(SosReportView(compute4))
    assert census.total == 53 and census.source == "sos_commands/filesys/df_-al_-x_autofs"
    assert len(census.netns_nsfs()) == 6 and census.by_type()["cgroup"] == 12


def test_census_sources_and_largest_namespace(tmp_path: Path) -> None:
    node = NodeTree("h")
    node.file("proc/self/mountinfo", MOUNTINFO)
    node.file("proc/77/mountinfo", MOUNTINFO * 3)
    node.file("proc/78/mountinfo", MOUNTINFO)
    node.write(tmp_path / "a")
    view = SosReportView(tmp_path / "a")
    census = load_mount_census(view)
    assert census.total == 5 and [e.fstype for e in census.benign()] == ["overlay"]
    largest = load_largest_namespace(view)
    assert largest is not None and largest.source == "proc/77/mountinfo" and largest.total == 15
    NodeTree("h").write(tmp_path / "b")
    with pytest.raises(MissingEvidence):
        load_mount_census(SosReportView(tmp_path / "b"))
    assert load_largest_namespace(SosReportView(tmp_path / "b")) is None
