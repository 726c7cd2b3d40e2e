"""Instance console logs: size on disk and the virtlogd limits that bound it (CON-003)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from stackrx.checks.compute import KOLLA_INSTANCES, instances_path, require_libvirt
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence
from stackrx.facts.ini import load_config
from stackrx.facts.mounts import human_size, load_df
from stackrx.models import CheckMeta, Cited, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import HostView, Text

GIB = 1024**3
MIB = 1024**2
# libvirt's virtlogd.conf defaults (sample file text): rotate at 2 MiB, keep 3 backups.
VIRTLOGD_MAX_SIZE_DEFAULT = 2 * MIB
VIRTLOGD_MAX_BACKUPS_DEFAULT = 3

_QEMU_CONF = ("etc/libvirt/qemu.conf", "etc/kolla/nova-libvirt/qemu.conf")
_VIRTLOGD_CONF = ("etc/libvirt/virtlogd.conf",)

# libvirt conf syntax: `name = "string"` or `name = 123`; `#` starts a comment outside a string.
_LIBVIRT_SETTING = re.compile(
    r"^\s*(?P<key>[A-Za-z_]\w*)\s*=\s*(?:\"(?P<s>[^\"]*)\"|(?P<n>-?\d+))\s*(?:#.*)?$")


@dataclass(frozen=True)
class LibvirtSetting(Cited):
    value: str
    source: str
    line: int
    excerpt: str


def libvirt_setting(text: Text, key: str) -> LibvirtSetting | None:
    """The last uncommented `key = value` of a libvirt daemon config file."""
    found: LibvirtSetting | None = None
    for lineno, line in enumerate(text.content.splitlines(), 1):
        m = _LIBVIRT_SETTING.match(line)
        if m and m.group("key") == key:
            value = m.group("s") if m.group("s") is not None else m.group("n")
            found = LibvirtSetting(value, text.source, lineno, line.strip())
    return found


def _int(setting: LibvirtSetting | None) -> int | None:
    if setting is None or not re.fullmatch(r"-?\d+", setting.value):
        return None
    return int(setting.value)


def _first_text(view: HostView, paths: tuple[str, ...]) -> Text | None:
    for path in paths:
        text = view.read_text(path)
        if text is not None:
            return text
    return None


@dataclass(frozen=True)
class ConsoleLog:
    path: str
    size: int
    source: str

    def evidence(self) -> Evidence:
        return Evidence(source=self.source,
                        excerpt=f"{self.size} bytes ({human_size(self.size)}) /{self.path}")


def console_logs(view: HostView, instances: str) -> list[ConsoleLog]:
    logs: list[ConsoleLog] = []
    for root in dict.fromkeys([instances, KOLLA_INSTANCES]):
        for path in view.glob(posixpath.join(root.lstrip("/"), "*", "console.log*")):
            info = view.stat(path)
            if info is not None and not view.is_dir(path):
                logs.append(ConsoleLog(path, info.size, view.source_name(path)))
    return logs


@check(CheckMeta(
    id="CON-003",
    title="Oversized instance console logs / virtlogd limits",
    severity=Severity.high,
    area="console",
    tale=(
        "Instances were slow to launch and the RabbitMQ master kept falling over. Debug logging on nova-api "
        "showed a guest's boot log streaming through the queue again and again: one broken VM had written a "
        "5.5 GB console.log, and its owner kept refreshing the console-log page in the dashboard."
    ),
    description=(
        "Sizes every console.log (and rotated console.log.N) under the instances path, compares their sum "
        "with the instances filesystem, and reads qemu.conf stdio_handler and virtlogd.conf "
        "max_size/max_backups. With stdio_handler = \"logd\" (the libvirt default) virtlogd rotates console "
        "logs at max_size."
    ),
    risk=(
        "An unrotated console log grows without bound and can fill the instances filesystem for every guest "
        "on the host. Current nova returns only the last 100 KiB to the API, but older releases sent the "
        "whole file over RabbitMQ."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Find the largest console logs.", commands=[
            "find /var/lib/nova/instances -maxdepth 2 -name 'console.log*' -printf '%s %p\\n' | sort -n",
        ]),
        RemediationStep(kind=StepKind.safe, text=(
            "Let virtlogd handle guest output and bound it: stdio_handler = \"logd\" in qemu.conf, max_size "
            "and max_backups in virtlogd.conf; restart virtlogd in a maintenance window (whether a SIGUSR1 "
            "re-exec re-reads the config is UNVERIFIED). Guests pick up stdio_handler on their next start."),
            commands=[
            "sed -i 's/^#\\?\\s*stdio_handler.*/stdio_handler = \"logd\"/' /etc/libvirt/qemu.conf",
            "printf 'max_size = 2097152\\nmax_backups = 3\\n' >> /etc/libvirt/virtlogd.conf",
            "systemctl restart virtlogd",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Truncating a live console.log loses the guest's boot evidence: keep the tail first."), commands=[
            "tail -c 10M /var/lib/nova/instances/UUID/console.log > /root/UUID-console.tail",
            "truncate -s 0 /var/lib/nova/instances/UUID/console.log",
        ]),
    ],
    references=[
        "nova nova/virt/libvirt/driver.py (MAX_CONSOLE_BYTES = 100 KiB, _get_console_output_file, "
        "_create_pty_device)",
        "nova nova/virt/libvirt/config.py (LibvirtConfigGuestCharDeviceLog)",
        "libvirt qemu.conf sample (stdio_handler, default \"logd\") and virtlogd.conf sample "
        "(max_size 2097152, max_backups 3)",
        "sos libvirt.py (collects /etc/libvirt; console logs only with --all-logs, truncated to --log-size)",
        "Launchpad bug 832507",
    ],
    modes=["live", "snap"],
    reads={
        "live": ["etc/nova/nova.conf", "<instances_path>/*/console.log*", "etc/libvirt/qemu.conf",
                 "etc/libvirt/virtlogd.conf", "cmd:df -al"],
        "sosreport": ["etc/nova/nova.conf", "etc/libvirt/qemu.conf", "etc/libvirt/virtlogd.conf",
                      "<instances_path>/*/console.log* (partial: only with --all-logs, truncated)",
                      "sos_commands/filesys/df_-al_-x_autofs"],
        "kolla": ["etc/kolla/nova-compute/nova.conf", "etc/kolla/nova-libvirt/qemu.conf",
                  f"{KOLLA_INSTANCES}/*/console.log*"],
    },
))
def console_log_size(ctx: CheckContext) -> None:
    ini = ctx.facts.get(load_config, "nova")
    require_libvirt(ini)
    instances, _ = instances_path(ini)
    _stdio_handler(ctx)
    _virtlogd_limits(ctx)

    logs = console_logs(ctx.view, instances)
    if not logs:
        if ctx.view.kind == "sosreport":
            ctx.ok(f"partial: no console logs under {instances} in this sosreport (sos collects them only "
                   "with --all-logs, truncated), sizes not checked")
        else:
            ctx.ok(f"no console logs under {instances}")
        return
    sos = ctx.view.kind == "sosreport"
    truncated = " (sizes from a sosreport are lower bounds: sos truncates logs)" if sos else ""
    for log in logs:
        if log.size >= GIB:
            ctx.fail(f"console log /{log.path} is {human_size(log.size)} (≥ 1 GiB){truncated}",
                     severity=Severity.high, resource=f"/{log.path}", evidence=[log.evidence()])
        elif log.size >= 100 * MIB:
            ctx.warn(f"console log /{log.path} is {human_size(log.size)} (≥ 100 MiB){truncated}",
                     severity=Severity.medium, resource=f"/{log.path}", evidence=[log.evidence()])
    _share_of_filesystem(ctx, instances, logs)


def _stdio_handler(ctx: CheckContext) -> None:
    qemu = _first_text(ctx.view, _QEMU_CONF)
    if qemu is None:
        return
    handler = libvirt_setting(qemu, "stdio_handler")
    if handler is not None and handler.value == "file":
        ctx.warn("qemu.conf stdio_handler = \"file\": QEMU writes console logs directly, virtlogd does not "
                 "rotate them and they grow without limit", severity=Severity.medium, resource=qemu.source,
                 evidence=[handler.evidence()])


def _virtlogd_limits(ctx: CheckContext) -> None:
    conf = _first_text(ctx.view, _VIRTLOGD_CONF)
    if conf is None:
        return
    max_size = libvirt_setting(conf, "max_size")
    size = _int(max_size)
    if max_size is not None and size is not None and size > 100 * MIB:
        ctx.warn(f"virtlogd.conf max_size = {max_size.value} ({human_size(size)}): each console "
                 f"log may grow past 100 MiB before rotation (default {VIRTLOGD_MAX_SIZE_DEFAULT})",
                 severity=Severity.low, resource=conf.source, evidence=[max_size.evidence()])
    backups = libvirt_setting(conf, "max_backups")
    count = _int(backups)
    if backups is not None and count is not None and count > 10:
        ctx.warn(f"virtlogd.conf max_backups = {backups.value}: more than 10 rotated files kept per console "
                 f"log (default {VIRTLOGD_MAX_BACKUPS_DEFAULT})", severity=Severity.low, resource=conf.source,
                 evidence=[backups.evidence()])


def _share_of_filesystem(ctx: CheckContext, instances: str, logs: list[ConsoleLog]) -> None:
    try:
        df = ctx.facts.get(load_df)
    except MissingEvidence:
        return
    row = df.mount_for(instances)
    if row is None or not row.total:
        return
    total = sum(log.size for log in logs)
    if total * 10 >= row.total:
        biggest = sorted(logs, key=lambda log: -log.size)[:5]
        ctx.fail(f"console logs use {human_size(total)}, {total * 100 // row.total}% of the {row.target} "
                 f"filesystem ({human_size(row.total)}) that holds {instances}", severity=Severity.high,
                 resource=row.target, evidence=[row.evidence(), *(log.evidence() for log in biggest)])
