"""Container runtime inspection: security profile, privilege and bind mounts of each container.

Inputs: `docker inspect <c>` / `podman inspect <c>` as sos stores them (`sos_commands/docker/containers/
docker_inspect_<c>`, `sos_commands/podman/containers/podman_inspect_<c>`; the Kolla side bundle uses the same
names), and on a live host Docker's own state files `var/lib/docker/containers/<id>/config.v2.json` (name,
AppArmorProfile, MountPoints, State) with the sibling `hostconfig.json` (Privileged, SecurityOpt), which need
no command and no daemon round trip.

Public API:

    ContainerMount(source: str, destination: str, propagation: str, rw: bool | None)
        .shared -> bool (propagation shared or rshared)
    Container(name: str, image: str | None, running: bool | None, privileged: bool | None,
              apparmor_profile: str | None, security_opt: tuple[str, ...], mounts: tuple[ContainerMount, ...],
              runtime: str, source: str, line: int)
        `name` without Docker's leading `/`; `apparmor_profile` "" when the runtime set none (SELinux hosts),
        None when the field was not in the data. .unconfined_apparmor -> bool (profile `unconfined` or a
        `apparmor=unconfined` / `apparmor:unconfined` security option), .mount_at(destination), .evidence()
    parse_container_inspect(text) -> tuple[Container, ...]   # a JSON list (or one object) of inspect records
    parse_docker_config(text) -> tuple[Container, ...]       # one config.v2.json (privilege unknown)
    load_containers(view) -> tuple[Container, ...]           # MissingEvidence when nothing was collected
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any

from stackrx.errors import MissingEvidence, ParseError
from stackrx.facts import Facts
from stackrx.models import Evidence
from stackrx.sources.base import HostView, Text

SOS_GLOBS = ("sos_commands/docker/containers/docker_inspect_*", "sos_commands/podman/containers/podman_inspect_*")
LIVE_DOCKER = "var/lib/docker/containers/*/config.v2.json"
MAX_JSON_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ContainerMount:
    source: str
    destination: str
    propagation: str
    rw: bool | None

    @property
    def shared(self) -> bool:
        return self.propagation.lower() in ("shared", "rshared")


@dataclass(frozen=True)
class Container:
    name: str
    image: str | None
    running: bool | None
    privileged: bool | None
    apparmor_profile: str | None
    security_opt: tuple[str, ...]
    mounts: tuple[ContainerMount, ...]
    runtime: str
    source: str
    line: int

    @property
    def unconfined_apparmor(self) -> bool:
        if (self.apparmor_profile or "").lower() == "unconfined":
            return True
        return any(opt.replace(":", "=").lower() == "apparmor=unconfined" for opt in self.security_opt)

    def mount_at(self, destination: str) -> ContainerMount | None:
        want = posixpath.normpath(destination)
        return next((m for m in self.mounts if posixpath.normpath(m.destination or "/") == want), None)

    def evidence(self, detail: str = "") -> Evidence:
        excerpt = f"{self.runtime} container {self.name}" + (f": {detail}" if detail else "")
        return Evidence(source=self.source, line=self.line, excerpt=excerpt[:300])


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _mount(raw: Any) -> ContainerMount | None:
    if not isinstance(raw, dict):
        return None
    dest = _str(raw.get("Destination"))
    if not dest:
        return None
    return ContainerMount(_str(raw.get("Source")) or "", dest, _str(raw.get("Propagation")) or "",
                          _bool(raw.get("RW")))


def _line_of(content: str, needle: str) -> int:
    pos = content.find(needle) if needle else -1
    return content.count("\n", 0, pos) + 1 if pos >= 0 else 1


def _container(obj: dict[str, Any], host: dict[str, Any], runtime: str, text: Text,
               mounts: list[Any]) -> Container | None:
    raw_name = _str(obj.get("Name"))
    if not raw_name:
        return None
    name = raw_name.lstrip("/")
    options = host.get("SecurityOpt")
    security = tuple(o for o in options if isinstance(o, str)) if isinstance(options, list) else ()
    state = obj.get("State")
    running = _bool(state.get("Running")) if isinstance(state, dict) else None
    config = obj.get("Config")
    image = _str(config.get("Image")) if isinstance(config, dict) else None
    parsed = tuple(m for m in (_mount(r) for r in mounts) if m is not None)
    return Container(name, image or _str(obj.get("ImageName")), running, _bool(host.get("Privileged")),
                     _str(obj.get("AppArmorProfile")), security, parsed, runtime, text.source,
                     _line_of(text.content, f'"{raw_name}"'))


def _load_json(text: Text) -> Any:
    try:
        return json.loads(text.content)
    except (ValueError, RecursionError) as exc:
        raise ParseError(text.source, f"not JSON: {exc}") from None


def _runtime(source: str) -> str:
    return "podman" if "podman" in source else "docker"


def parse_container_inspect(text: Text) -> tuple[Container, ...]:
    if not text.content.strip():
        return ()
    data = _load_json(text)
    records = data if isinstance(data, list) else [data]
    if not records:
        return ()  # `docker inspect` of nothing
    out: list[Container] = []
    for obj in records:
        if not isinstance(obj, dict):
            continue
        host = obj.get("HostConfig")
        mounts = obj.get("Mounts")
        found = _container(obj, host if isinstance(host, dict) else {}, _runtime(text.source), text,
                           mounts if isinstance(mounts, list) else [])
        if found is not None:
            out.append(found)
    if not out:
        raise ParseError(text.source, "no inspect record with a Name")
    return tuple(out)


def parse_docker_config(text: Text) -> tuple[Container, ...]:
    """Docker's `config.v2.json`: MountPoints is a map destination -> {Source, Destination, Propagation, RW}."""
    data = _load_json(text)
    if not isinstance(data, dict):
        raise ParseError(text.source, "config.v2.json is not a JSON object")
    points = data.get("MountPoints")
    mounts = list(points.values()) if isinstance(points, dict) else []
    found = _container(data, {}, "docker", text, mounts)
    if found is None:
        raise ParseError(text.source, "config.v2.json without a Name")
    return (found,)


def _with_hostconfig(view: HostView, container: Container, path: str) -> Container:
    host = view.read_text(posixpath.join(posixpath.dirname(path), "hostconfig.json"))
    if host is None:
        return container
    try:
        data = json.loads(host.content)
    except (ValueError, RecursionError):
        return container
    if not isinstance(data, dict):
        return container
    options = data.get("SecurityOpt")
    security = tuple(o for o in options if isinstance(o, str)) if isinstance(options, list) else ()
    return Container(container.name, container.image, container.running, _bool(data.get("Privileged")),
                     container.apparmor_profile, security, container.mounts, container.runtime,
                     container.source, container.line)


def load_containers(view: HostView) -> tuple[Container, ...]:
    out: list[Container] = []
    for text in view.read_files(SOS_GLOBS):
        out.extend(parse_container_inspect(text))
    if not out:
        for path in view.glob(LIVE_DOCKER):
            config = view.read_text(path)
            if config is not None:
                out.extend(_with_hostconfig(view, c, path) for c in parse_docker_config(config))
    if not out:
        raise MissingEvidence("sos_commands/docker/containers/docker_inspect_<c>, sos_commands/podman/"
                              "containers/podman_inspect_<c> or var/lib/docker/containers/*/config.v2.json")
    return tuple(out)


def summary(facts: Facts) -> dict[str, Any]:
    try:
        containers = facts.get(load_containers)
    except (MissingEvidence, ParseError):
        return {}
    return {"containers": sorted(c.name for c in containers)}


FUZZ_TARGETS = [parse_container_inspect, parse_docker_config]
