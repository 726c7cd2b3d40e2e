from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts.container_inspect import load_containers, parse_container_inspect, parse_docker_config
from stackrx.sources.base import Text
from stackrx.sources.live import LiveView
from stackrx.sources.sosreport import SosReportView

INSPECT = [{
    "Name": "/neutron_l3_agent", "AppArmorProfile": "docker-default", "State": {"Running": True},
    "Config": {"Image": "kolla/neutron-l3-agent:2024.1"},
    "HostConfig": {"Privileged": False, "SecurityOpt": ["label=disable"]},
    "Mounts": [{"Type": "bind", "Source": "/run/netns", "Destination": "/run/netns/", "RW": True,
                "Propagation": "rshared"}, {"Type": "volume", "Name": "kolla_logs"}],
}]


def test_docker_inspect_record() -> None:
    [c] = parse_container_inspect(Text("sos_commands/docker/containers/docker_inspect_neutron_l3_agent",
                                       json.dumps(INSPECT, indent=4)))
    assert (c.name, c.image, c.running, c.privileged, c.runtime) == (
        "neutron_l3_agent", "kolla/neutron-l3-agent:2024.1", True, False, "docker")
    mount = c.mount_at("/run/netns")
    assert mount is not None and mount.shared and mount.source == "/run/netns"
    assert not c.unconfined_apparmor and c.line == 3


def test_unconfined_by_security_opt_and_podman_runtime() -> None:
    record = {**INSPECT[0], "Name": "ovn_metadata_agent", "AppArmorProfile": "",
              "HostConfig": {"SecurityOpt": ["apparmor:unconfined"]}}
    [c] = parse_container_inspect(Text("sos_commands/podman/containers/podman_inspect_x", json.dumps(record)))
    assert c.unconfined_apparmor and c.runtime == "podman" and c.privileged is None


def test_bad_json_and_empty_lists() -> None:
    with pytest.raises(ParseError):
        parse_container_inspect(Text("x", "{not json"))
    with pytest.raises(ParseError):
        parse_container_inspect(Text("x", '[{"Id": "abc"}]'))
    assert parse_container_inspect(Text("x", "[]")) == ()


def test_live_docker_state_files(tmp_path: Path) -> None:
    cdir = tmp_path / "var/lib/docker/containers/abc"
    cdir.mkdir(parents=True)
    (cdir / "config.v2.json").write_text(json.dumps({
        "Name": "/neutron_dhcp_agent", "AppArmorProfile": "docker-default", "State": {"Running": True},
        "MountPoints": {"/run/netns": {"Source": "/run/netns", "Destination": "/run/netns", "RW": True,
                                       "Propagation": "shared"}}}))
    (cdir / "hostconfig.json").write_text(json.dumps({"Privileged": True, "SecurityOpt": None}))
    [c] = load_containers(LiveView(tmp_path))
    assert c.privileged is True and c.mount_at("/run/netns") is not None
    [only] = parse_docker_config(Text("x", (cdir / "config.v2.json").read_text()))
    assert only.privileged is None


def test_nothing_collected(tmp_path: Path) -> None:
    (tmp_path / "sos_commands").mkdir()
    with pytest.raises(MissingEvidence):
        load_containers(SosReportView(tmp_path))
