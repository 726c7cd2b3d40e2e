"""Compute checks: the libvirt image cache on shared instance storage (CMP-001, CMP-002)."""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.ini import IniFile, IniValue, as_bool, as_int, load_config
from stackrx.facts.logs import Hit, SignatureHits, load_signature_hits
from stackrx.facts.mounts import Located, locate, normpath
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import HostView

# nova's own default for state_path is `$pybasedir` (the python package dir); every distribution package
# and deployment tool sets /var/lib/nova, which is what a reader of a real node expects.
STATE_PATH_DEFAULT = "/var/lib/nova"
INSTANCES_PATH_DEFAULT = "$state_path/instances"
# Kolla-Ansible keeps the instances of a containerised nova_compute in a named volume on the host.
KOLLA_INSTANCES = "/var/lib/docker/volumes/nova_compute/_data/instances"
TWENTY_FOUR_HOURS = 24 * 3600

_VAR = re.compile(r"\$(?:\{(?P<b>[\w.]+)\}|(?P<n>\w+))")


def _interpolate(ini: IniFile, value: str, depth: int = 0) -> str:
    """oslo.config `$opt` / `${opt}` / `${group.opt}` substitution (DEFAULT group unless dotted)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group("b") or m.group("n")
        group, _, opt = name.rpartition(".")
        found = ini.get(group or "DEFAULT", opt)
        if found is not None and depth < 5:
            return _interpolate(ini, found.value, depth + 1)
        if opt == "state_path" and not group:
            return STATE_PATH_DEFAULT
        return m.group(0)

    return _VAR.sub(repl, value)


def instances_path(ini: IniFile) -> tuple[str, IniValue | None]:
    """Effective `[DEFAULT] instances_path` (absolute) and the option line that set it, if any."""
    opt = ini.get("DEFAULT", "instances_path")
    raw = opt.value if opt is not None and opt.value.strip() else INSTANCES_PATH_DEFAULT
    return normpath(_interpolate(ini, raw)), opt


def require_libvirt(ini: IniFile) -> IniValue:
    """The `[DEFAULT] compute_driver` line of a libvirt compute node, or NotApplicable."""
    driver = ini.get("DEFAULT", "compute_driver")
    if driver is None or not driver.value.strip():
        raise NotApplicable("nova.conf sets no [DEFAULT] compute_driver: not a nova-compute node")
    if "libvirt" not in driver.value.lower():
        raise NotApplicable(f"compute_driver = {driver.value}: the libvirt image cache is not used")
    return driver


def _opt_evidence(ini: IniFile, opt: IniValue | None, section: str, key: str, default: str) -> Evidence:
    if opt is not None:
        return opt.evidence()
    source = ini.sources[0] if ini.sources else "etc/nova/nova.conf"
    return Evidence(source=source, excerpt=f"[{section}] {key} not set (default {default})")


@dataclass(frozen=True)
class ImageCache:
    remove: bool
    interval: int
    min_age: int
    subdirectory: str
    evidence: tuple[Evidence, ...]


def image_cache_settings(ini: IniFile) -> ImageCache:
    """Effective [image_cache] options; before Ussuri (nova 21) they lived in [DEFAULT] / [libvirt]."""
    remove = ini.first(("image_cache", "remove_unused_base_images"), ("DEFAULT", "remove_unused_base_images"))
    interval = ini.first(("image_cache", "manager_interval"), ("DEFAULT", "image_cache_manager_interval"))
    min_age = ini.first(("image_cache", "remove_unused_original_minimum_age_seconds"),
                        ("DEFAULT", "remove_unused_original_minimum_age_seconds"))
    subdir = ini.first(("image_cache", "subdirectory_name"), ("DEFAULT", "image_cache_subdirectory_name"))
    return ImageCache(
        remove=as_bool(remove, True),
        interval=as_int(interval, 2400),
        min_age=as_int(min_age, 86400),
        subdirectory=subdir.value.strip() if subdir is not None and subdir.value.strip() else "_base",
        evidence=(
            _opt_evidence(ini, remove, "image_cache", "remove_unused_base_images", "True"),
            _opt_evidence(ini, interval, "image_cache", "manager_interval", "2400"),
        ),
    )


@dataclass(frozen=True)
class StorageUsers:
    """`<instances_path>/compute_nodes`: every compute that registered its use of this directory."""

    recent: tuple[str, ...]
    stale: tuple[tuple[str, float], ...]
    """Hosts last seen more than 24 h before collection, with their age in hours."""
    evidence: Evidence


def storage_users(view: HostView, path: str, now: datetime) -> StorageUsers | None:
    logical = posixpath.join(path.lstrip("/"), "compute_nodes")
    text = view.read_text(logical)
    if text is None:
        return None
    try:
        data = json.loads(text.content)
    except (ValueError, RecursionError):
        return None  # nova itself logs "Cannot decode JSON" and treats the file as empty
    if not isinstance(data, dict):
        return None
    recent: list[str] = []
    stale: list[tuple[str, float]] = []
    for host, seen in sorted(data.items()):
        if not isinstance(seen, int | float):
            continue
        age = now.timestamp() - float(seen)
        if age < TWENTY_FOUR_HOURS:
            recent.append(str(host))
        else:
            stale.append((str(host), round(age / 3600, 1)))
    return StorageUsers(tuple(recent), tuple(stale), Evidence(source=text.source, line=1,
                                                                 excerpt=text.content.strip()[:300]))


def _reference_time(ctx: CheckContext) -> datetime:
    return ctx.collected_at() or datetime.now(UTC)


def _host_paths(view: HostView, path: str) -> list[str]:
    paths = [path]
    if view.is_dir(KOLLA_INSTANCES.lstrip("/")):
        paths.append(KOLLA_INSTANCES)
    return paths


@check(CheckMeta(
    id="CMP-001",
    title="Image-cache base-file removal on a shared instances_path",
    severity=Severity.critical,
    area="compute",
    tale=(
        "A research cloud kept /var/lib/nova/instances on one NFS export for all its computes. After two "
        "unrelated reboots, instances built from user snapshots would not start: virsh could not find their "
        "backing disk. Another compute's image-cache pass had decided the _base file was unused and deleted "
        "it, because the host that used it was down while the pass ran."
    ),
    description=(
        "Finds the filesystem that holds nova's instances_path (mount table, else df) and the computes that "
        "registered in its compute_nodes file. On shared storage (NFS, GlusterFS, CephFS, GPFS, Lustre, "
        "OCFS2, GFS2, BeeGFS) with [image_cache] remove_unused_base_images enabled and the cache manager "
        "running, every compute sharing the directory may delete _base files it believes unused. Deprecated "
        "pre-Ussuri names ([DEFAULT] remove_unused_base_images, image_cache_manager_interval) are honoured."
    ),
    risk=(
        "nova counts only instances of hosts that registered in the last 24 hours; when a sharing compute is "
        "down longer, or mounts the same export under another path, the base images of its instances are "
        "deleted and those instances cannot boot again. Snapshot-based images may be gone from Glance too."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Confirm the filesystem and the effective options.",
                        commands=[
            "findmnt -n -o FSTYPE,SOURCE -T /var/lib/nova/instances",
            "cat /var/lib/nova/instances/compute_nodes",
            "grep -E 'remove_unused|manager_interval|subdirectory_name' /etc/nova/nova.conf",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Disable base-file removal on every compute of the share (or keep it on exactly one 'janitor' "
            "compute and set manager_interval = -1 on the others), then restart nova-compute; running guests "
            "are not affected."), commands=[
            "crudini --set /etc/nova/nova.conf image_cache remove_unused_base_images False",
            "systemctl restart nova-compute",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Manual cleanup of _base on the share deletes data other computes may need: back up the "
            "directory and check every instance's backing chain first."), commands=[
            "for d in /var/lib/nova/instances/*/disk; do qemu-img info -U --backing-chain \"$d\"; done",
        ]),
    ],
    references=[
        "nova nova/conf/imagecache.py ([image_cache] options, defaults True/2400/86400/_base)",
        "nova commit 828e8047e5 'Consolidate [image_cache] conf options' (21.0.0 Ussuri; the old names are "
        "deprecated aliases)",
        "nova nova/virt/storage_users.py (compute_nodes file, TWENTY_FOUR_HOURS)",
        "nova commit c2de33a0a2 'Detect shared storage; handle base cleanup better' (Grizzly)",
        "nova doc/source/admin/image-caching.rst",
        "Launchpad bug 1029674 (removal enabled by default in Folsom)",
    ],
    reads={
        "live": ["etc/nova/nova.conf", "etc/nova/nova-compute.conf", "cmd:mount -l", "proc/mounts",
                 "cmd:df -al", "<instances_path>/compute_nodes"],
        "sosreport": ["etc/nova/nova.conf", "etc/nova/nova-compute.conf", "sos_commands/filesys/mount_-l",
                      "proc/mounts", "sos_commands/filesys/df_-al_-x_autofs"],
        "kolla": ["etc/kolla/nova-compute/nova.conf", "cmd:mount -l", f"{KOLLA_INSTANCES}/compute_nodes"],
    },
))
def image_cache_on_shared_storage(ctx: CheckContext) -> None:
    ini = ctx.facts.get(load_config, "nova")
    require_libvirt(ini)
    path, path_opt = instances_path(ini)
    images_type = ini.get("libvirt", "images_type")
    if images_type is not None and images_type.value.strip().lower() == "rbd":
        ctx.ok(f"[libvirt] images_type = rbd: instance disks are RBD clones, {path} holds no shared _base "
               "dependency", evidence=[images_type.evidence()])
        return
    cache = image_cache_settings(ini)
    if not cache.remove:
        ctx.ok("image-cache base-file removal is disabled", evidence=cache.evidence[:1])
        return
    if cache.interval == -1:
        ctx.ok("the image-cache manager is disabled (manager_interval = -1)", evidence=cache.evidence[1:])
        return

    now = _reference_time(ctx)
    located: list[Located] = []
    users: StorageUsers | None = None
    missing: MissingEvidence | None = None
    for host_path in _host_paths(ctx.view, path):
        try:
            located.append(locate(ctx.facts, host_path))
        except MissingEvidence as exc:
            missing = exc
        users = users or storage_users(ctx.view, host_path, now)
    if not located and users is None:
        raise missing or MissingEvidence("cmd:mount -l")

    shared_fs = [loc for loc in located if loc.shared]
    several = users is not None and len(users.recent) >= 2
    evidence: list[Evidence] = [loc.evidence for loc in (shared_fs or located)]
    if users is not None:
        evidence.append(users.evidence)
    if path_opt is not None:
        evidence.append(path_opt.evidence())
    if not shared_fs and not several:
        where = ", ".join(f"{loc.target} ({loc.fstype or 'type not recorded'}, {loc.device})"
                          for loc in located)
        unknown = [loc for loc in located if loc.shared is None]
        note = "; filesystem type unknown (df without -T and no mount table)" if unknown else ""
        ctx.ok(f"instances_path {path} is on local storage: {where or 'no shared mount'}{note}",
               resource=path, evidence=evidence)
        return

    evidence.extend(cache.evidence)
    if shared_fs:
        loc = shared_fs[0]
        what = f"{loc.fstype or 'network'} filesystem {loc.device} mounted at {loc.target}"
    else:
        assert users is not None
        hosts = ", ".join(users.recent)
        what = f"a directory {len(users.recent)} computes registered in compute_nodes ({hosts})"
    if users is not None and users.stale:
        down = ", ".join(f"{h} ({age} h ago)" for h, age in users.stale)
        ctx.fail(
            f"instances_path {path} is on {what}; image-cache removal is enabled (manager_interval "
            f"{cache.interval}s, originals removed after {cache.min_age}s unused) and compute_nodes lists "
            f"hosts not seen for more than 24 h: {down}. Their instances no longer count as users, so their "
            f"{cache.subdirectory} files can be deleted now",
            severity=Severity.critical, resource=path, evidence=evidence)
        return
    seen = "" if users is not None else " (compute_nodes not collected: other users unknown)"
    ctx.fail(
        f"instances_path {path} is on {what}; image-cache removal is enabled (remove_unused_base_images "
        f"true, manager_interval {cache.interval}s): every compute sharing it deletes {cache.subdirectory} "
        f"files it believes unused, and a compute down for more than 24 h or mounting the export under "
        f"another path loses its instances' backing files{seen}",
        severity=Severity.high, resource=path, evidence=evidence)


# -- CMP-002 ---------------------------------------------------------------------------------------------
_DOMAIN_XML = ("run/libvirt/qemu/*.xml", "etc/libvirt/qemu/*.xml")
_XML_NAME = re.compile(r"<name>\s*([^<\s]+)\s*</name>")
_XML_ROOT_IMAGE = re.compile(r"<nova:root\s+type=[\"']image[\"']\s+uuid=[\"']([0-9a-fA-F-]{32,36})[\"']")
_XML_FILE = re.compile(r"<source\s+file=[\"']([^\"']+)[\"']")
_XML_DISK = re.compile(r"<disk\b[^>]*>(.*?)</disk>", re.DOTALL)
_XML_DRIVER_TYPE = re.compile(r"<driver\b[^>]*\stype=[\"']([\w-]+)[\"']")
_LEGACY_SIZE = re.compile(r"_\d+$")


@dataclass(frozen=True)
class DomainDisks:
    """What one libvirt domain definition says about its disks."""

    name: str
    files: frozenset[str]
    root_image_sha1: str | None
    has_local_root: bool
    """The root disk is a local qcow2 overlay (raw/flat copies and volumes do not need their base)."""
    evidence: Evidence


def _domains(view: HostView) -> list[DomainDisks]:
    out: list[DomainDisks] = []
    for text in view.read_files(_DOMAIN_XML):
        name = _XML_NAME.search(text.content)
        image = _XML_ROOT_IMAGE.search(text.content)
        files = frozenset(normpath(f) for f in _XML_FILE.findall(text.content))
        label = name.group(1) if name else posixpath.basename(text.source).removesuffix(".xml")
        lineno = text.content.count("\n", 0, name.start()) + 1 if name else None
        out.append(DomainDisks(
            name=label,
            files=files,
            root_image_sha1=hashlib.sha1(image.group(1).encode()).hexdigest() if image else None,
            has_local_root=any(_qcow2_root(disk) for disk in _XML_DISK.findall(text.content)),
            evidence=Evidence(source=text.source, line=lineno, excerpt=f"<name>{label}</name>"),
        ))
    return out


def _qcow2_root(disk: str) -> bool:
    source = _XML_FILE.search(disk)
    driver = _XML_DRIVER_TYPE.search(disk)
    return (source is not None and posixpath.basename(source.group(1)) == "disk" and driver is not None
            and driver.group(1) == "qcow2")


def _references(domain: DomainDisks, base: str) -> bool:
    """A domain uses a base file if its XML names it, or its root disk is a local copy-on-write of its image.

    Base names are sha1(image id), with `_<GB>` for legacy resized copies; a persistent definition names only
    the instance's own `disk`, the running one also its backingStore chain.
    """
    if base in domain.files:
        return True
    stem = _LEGACY_SIZE.sub("", posixpath.basename(base))
    return domain.has_local_root and domain.root_image_sha1 is not None and stem == domain.root_image_sha1


_QCOW2_MAGIC = b"QFI\xfb"


def qcow2_backing_file(view: HostView, path: str) -> str | None:
    """The backing file recorded in a qcow2 header (what `qemu-img info` reads first), without qemu."""
    fh = view.open_binary(path)
    if fh is None:
        return None
    with fh:
        header = fh.read(20)
        if len(header) < 20 or header[:4] != _QCOW2_MAGIC:
            return None
        offset, size = struct.unpack(">QI", header[8:20])
        if offset == 0 or not 0 < size <= 4096:
            return None
        fh.seek(offset)
        name = fh.read(size).decode("utf-8", errors="replace")
    return name if name.startswith("/") else posixpath.join("/" + posixpath.dirname(path), name)


@check(CheckMeta(
    id="CMP-002",
    title="Backing (_base) file removed while still referenced",
    severity=Severity.critical,
    area="compute",
    tale=(
        "On a cloud with a shared instances directory, an instance that had been running for weeks refused "
        "to reboot: virsh reported its backing disk missing. The central log server held the answer, an "
        "image-cache line from a different compute saying it was removing that very base file."
    ),
    description=(
        "Reads the nova-compute image-cache removal lines ('Removing base[, swap or ephemeral] file: "
        "<path>') and the qemu/libvirt 'Could not open / Cannot access backing file' errors, and matches "
        "removed paths against the disks named by this host's libvirt domain definitions (sha1 of the root "
        "image id). On a live host it also reads each instance disk's qcow2 header and reports backing "
        "files that are gone."
    ),
    risk=(
        "An instance whose backing file was deleted keeps running on the open file, but cannot be rebooted, "
        "migrated or restarted after a host reboot; if the image was a deleted snapshot, the disk is lost "
        "without backups."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Stop further removals first (CMP-001), then list every "
                        "instance's backing chain (read-only, -U avoids lock conflicts).", commands=[
            "crudini --set /etc/nova/nova.conf image_cache remove_unused_base_images False",
            "systemctl restart nova-compute",
            "for d in /var/lib/nova/instances/*/disk; do qemu-img info -U --backing-chain \"$d\"; done",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Restore the base file into the shared cache when the Glance image still exists: download it, "
            "convert to raw (force_raw_images defaults to True), place it as _base/<sha1(image_id)>, fix "
            "owner and SELinux label, then hard-reboot the instance."), commands=[
            "openstack image save --file /tmp/IMAGE_ID IMAGE_ID",
            "SHA1=$(echo -n IMAGE_ID | sha1sum | cut -d' ' -f1)",
            "qemu-img convert -O raw /tmp/IMAGE_ID /var/lib/nova/instances/_base/$SHA1",
            "chown nova:nova /var/lib/nova/instances/_base/$SHA1",
            "restorecon -v /var/lib/nova/instances/_base/$SHA1",
            "openstack server reboot --hard SERVER_ID",
        ]),
    ],
    references=[
        "nova nova/virt/libvirt/imagecache.py ('Removing base, swap or ephemeral file: %s'; "
        "get_cache_fname = sha1(image id))",
        "nova nova/conf/compute.py (force_raw_images default True)",
        "Backing-file error wording of libvirt/qemu is UNVERIFIED: matched loosely (R-BACKING)",
        "Launchpad bug 1029674",
    ],
    reads={
        "live": ["var/log/nova/nova-compute.log*", "var/log/libvirt/qemu/*.log", "run/libvirt/qemu/*.xml",
                 "etc/libvirt/qemu/*.xml", "<instances_path>/*/disk (qcow2 header)"],
        "sosreport": ["var/log/nova/nova-compute.log*", "var/log/libvirt/qemu/*.log",
                      "run/libvirt/qemu/*.xml", "etc/libvirt/qemu/*.xml"],
        "kolla": ["var/lib/docker/volumes/kolla_logs/_data/nova/nova-compute.log*"],
    },
))
def backing_file_removed(ctx: CheckContext) -> None:
    nova = ctx.facts.maybe(load_config, "nova")
    if nova is not None:
        require_libvirt(nova)
    hits = _signature_hits(ctx)
    # A removal stays relevant past the log window: the instance breaks whenever it next restarts.
    removals = [*hits.older("R-IMGCACHE-RM"), *hits.get("R-IMGCACHE-RM")] if hits else []
    failures = hits.get("R-BACKING") if hits else []
    domains = _domains(ctx.view)
    reported: set[str] = set()

    failed_paths: dict[str, list[Hit]] = {}
    for hit in failures:
        path = hit.groups.get("path")
        if path:
            failed_paths.setdefault(normpath(path), []).append(hit)

    for removal in removals:
        raw = removal.groups.get("path")
        if not raw:
            continue
        base = normpath(raw)
        if base in reported:
            continue
        users = [d for d in domains if _references(d, base)]
        broken = failed_paths.get(base, [])
        if not users and not broken:
            continue
        if ctx.view.kind != "sosreport" and ctx.view.exists(base.lstrip("/")) and not broken:
            continue  # nova fetched the image again since: the running instance has its file back
        reported.add(base)
        who = ", ".join(d.name for d in users) or "an instance"
        evidence = [removal.evidence(), *(h.evidence() for h in broken[:3]), *(d.evidence for d in users)]
        failed = f"; qemu/libvirt already failed to open it ({len(broken)} log lines)" if broken else ""
        ctx.fail(f"base file {base} was removed by the image cache while {who} still uses it as backing "
                 f"file{failed}", severity=Severity.critical, resource=base, evidence=evidence)

    for base, broken in sorted(failed_paths.items()):
        if base in reported:
            continue
        reported.add(base)
        users = [d for d in domains if _references(d, base)]
        who = f" (used by {', '.join(d.name for d in users)})" if users else ""
        ctx.fail(f"qemu/libvirt cannot open backing file {base}{who}: the instance cannot start again",
                 severity=Severity.critical, resource=base,
                 evidence=[*(h.evidence() for h in broken[:3]), *(d.evidence for d in users)])

    if ctx.view.kind != "sosreport":
        _live_backing_chains(ctx, reported)

    if not reported:
        legit = len({h.groups.get("path") for h in removals if h.groups.get("path")})
        if legit:
            ctx.ok(f"{legit} base files removed by the image cache, none referenced by a domain defined here")


def _signature_hits(ctx: CheckContext) -> SignatureHits | None:
    """The nova/libvirt log hits; on a live host the qcow2 headers are evidence enough without logs."""
    try:
        hits = ctx.facts.get(load_signature_hits, ctx.options.log_window.days)
        hits.require("R-IMGCACHE-RM")
    except MissingEvidence:
        if ctx.view.kind == "sosreport":
            raise
        return None
    return hits


def _live_backing_chains(ctx: CheckContext, reported: set[str]) -> None:
    """Live only: each instance disk's qcow2 header names its backing file; report those that are gone."""
    try:
        ini = ctx.facts.get(load_config, "nova")
    except MissingEvidence:
        return
    path, _ = instances_path(ini)
    subdir = image_cache_settings(ini).subdirectory
    if not ctx.view.is_dir(posixpath.join(path.lstrip("/"), subdir)):
        return  # without the cache directory itself there is nothing to compare against
    for disk in ctx.view.glob(posixpath.join(path.lstrip("/"), "*", "disk")):
        backing = qcow2_backing_file(ctx.view, disk)
        if backing is None or normpath(backing) in reported or ctx.view.exists(backing.lstrip("/")):
            continue
        reported.add(normpath(backing))
        ctx.fail(f"instance disk /{disk} has backing file {backing}, which does not exist",
                 severity=Severity.critical, resource=f"/{disk}",
                 evidence=[Evidence(source=ctx.view.source_name(disk),
                                    excerpt=f"qcow2 backing file: {backing}")])
