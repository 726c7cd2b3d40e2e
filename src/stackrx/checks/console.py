"""Instance consoles and the dashboard's web server: SPICE configuration split between computes and the proxy
(CON-001), console proxies listening and reachable (CON-002), instance console logs' size on disk and the virtlogd
limits that bound it (CON-003), Horizon's Apache MPM and mod_wsgi mode (CON-004)."""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from stackrx.checks.compute import KOLLA_INSTANCES, instances_path, require_libvirt
from stackrx.checks.net import signature_hits
from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.apache import ApacheConfig, load_apache_config, load_loaded_modules, wsgi_apps
from stackrx.facts.firewall import load_firewall
from stackrx.facts.ini import IniFile, IniValue, as_bool, load_config
from stackrx.facts.iproute import load_links
from stackrx.facts.kernel import ProcessTable, load_processes
from stackrx.facts.listeners import Listener, load_listeners
from stackrx.facts.mounts import human_size, load_df
from stackrx.facts.packages import Packages, load_packages
from stackrx.models import CheckMeta, Cited, Evidence, RemediationStep, Severity, StepKind
from stackrx.sources.base import HostView, Text

SPICE_DEFAULT_URL = "http://127.0.0.1:6082/spice_auto.html"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_SPICE_PROXY = re.compile(r"nova-spicehtml5proxy")
_NOVNC_PROXY = re.compile(r"nova-novncproxy")
_COMPUTE = re.compile(r"nova-compute(?:\s|$)")
_SPICE_PROXY_PACKAGES = ("nova-spiceproxy", "openstack-nova-spicehtml5proxy")
_NOVNC_PROXY_PACKAGES = ("nova-novncproxy", "openstack-nova-novncproxy")


def _setting(ini: IniFile, section: str, key: str, default: str) -> tuple[str, Evidence]:
    value = ini.get(section, key)
    if value is not None:
        return value.value.strip(), value.evidence()
    source = ini.sources[0] if ini.sources else ""
    return default, Evidence(source=source, excerpt=f"[{section}] {key} not set (default {default})")


def _vnc_enabled(ini: IniFile) -> tuple[bool, Evidence]:
    value = ini.first(("vnc", "enabled"), ("DEFAULT", "vnc_enabled"))
    if value is None:
        source = ini.sources[0] if ini.sources else ""
        return True, Evidence(source=source, excerpt="[vnc] enabled not set (default True)")
    return as_bool(value, True), value.evidence()


def _installed(pkgs: Packages | None, names: tuple[str, ...]) -> bool:
    return pkgs is not None and pkgs.first(*names) is not None


@dataclass(frozen=True)
class Roles:
    compute: bool
    spice_proxy: bool
    spice_proxy_running: bool | None
    novnc_proxy: bool
    novnc_proxy_running: bool | None


def node_roles(ctx: CheckContext, ini: IniFile) -> Roles:
    table: ProcessTable | None = ctx.facts.maybe(load_processes)
    pkgs = ctx.facts.maybe(load_packages)
    spice_running = bool(table.matching(_SPICE_PROXY)) if table is not None else None
    novnc_running = bool(table.matching(_NOVNC_PROXY)) if table is not None else None
    compute = (table is not None and bool(table.matching(_COMPUTE))) or _installed(pkgs, ("nova-compute",
               "openstack-nova-compute")) or ctx.view.exists("etc/nova/nova-compute.conf")
    spice = bool(spice_running) or _installed(pkgs, _SPICE_PROXY_PACKAGES)
    novnc = bool(novnc_running) or _installed(pkgs, _NOVNC_PROXY_PACKAGES)
    return Roles(compute, spice, spice_running, novnc, novnc_running)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _local_addresses(ctx: CheckContext) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address] | None:
    links = ctx.facts.maybe(load_links)
    if links is None:
        return None
    return {ip for _l, a in links.addresses() if (ip := _ip(a.address)) is not None}


# ---------------------------------------------------------------------------------------------------------
# CON-001
# ---------------------------------------------------------------------------------------------------------


@check(CheckMeta(
    id="CON-001",
    title="SPICE HTML5 console configuration split (control ↔ compute)",
    severity=Severity.high,
    area="console",
    tale=(
        "Switching a Kilo cloud's consoles to SPICE meant touching nova.conf on the computes and on the proxy "
        "node, with different options on each. Until every piece matched, the dashboard said the console was "
        "unavailable and the API answered \"Invalid console type spice-html5\"."
    ),
    description=(
        "On a compute with [spice] enabled (or pointing at a SPICE proxy): VNC should be off, server_listen "
        "must not be 127.0.0.1, server_proxyclient_address must be one of the node's own non-loopback "
        "addresses, html5proxy_base_url must not be the 127.0.0.1 default and must end in spice_auto.html. "
        "On a SPICE proxy node: nova-spicehtml5proxy must run and, on a live host, [DEFAULT] web must hold "
        "spice_auto.html. Log lines \"Invalid/Unavailable console type spice-html5\" mean clients asked for a "
        "console this side does not serve. Instances keep the graphics devices of their libvirt XML: after "
        "switching from VNC, existing guests only get SPICE when their XML is regenerated (hard reboot)."
    ),
    risk=(
        "Consoles stay unavailable (HTTP 400 to the client) or work only for some instances; with 127.0.0.1 "
        "listen/proxy addresses the proxy can never reach the guest's display."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Compute nova.conf: [vnc] enabled = False, [spice] enabled = True, agent_enabled = True, "
            "server_listen = 0.0.0.0, server_proxyclient_address = <compute management IP>, html5proxy_base_url "
            "= https://<console host>:6082/spice_auto.html; proxy nova.conf: [DEFAULT] web = "
            "/usr/share/spice-html5, [spice] enabled = True, html5proxy_host/port. Restart nova-compute (guests "
            "are not affected) and the proxy."), commands=[
            "crudini --set /etc/nova/nova.conf vnc enabled False",
            "crudini --set /etc/nova/nova.conf spice enabled True",
            "crudini --set /etc/nova/nova.conf spice server_listen 0.0.0.0",
            "crudini --set /etc/nova/nova.conf spice server_proxyclient_address <compute-ip>",
            "crudini --set /etc/nova/nova.conf spice html5proxy_base_url https://<console-host>:6082/spice_auto.html",
            "systemctl restart nova-compute",
        ]),
        RemediationStep(kind=StepKind.destructive, text=(
            "Existing instances only get the SPICE device when their domain XML is regenerated."),
            commands=["openstack server reboot --hard <server>"]),
    ],
    references=[
        "nova nova/conf/spice.py, nova/conf/vnc.py (deprecated [DEFAULT] vnc_enabled), nova/conf/novnc.py",
        "nova nova/virt/libvirt/driver.py, nova/compute/manager.py::get_spice_console, nova/exception.py",
        "kolla-ansible ansible/roles/nova-cell/templates/nova.conf.j2 (nova_console: spice)",
        "Graphics devices kept from the old XML until hard reboot: inferred (CATALOGUE UNVERIFIED wording); "
        "stated as advice, not detected",
    ],
    reads={
        "live": ["etc/nova/nova.conf", "cmd:ps auxwww", "cmd:ip -d address", "usr/share/spice-html5",
                 "var/log/nova/*.log"],
        "sosreport": ["etc/nova/nova.conf", "sos_commands/process/ps_auxwwwm", "sos_commands/networking/ip_-d_address",
                      "var/log/nova/*.log*"],
        "kolla": ["etc/kolla/nova-compute/nova.conf", "etc/kolla/nova-spicehtml5proxy/nova.conf"],
    },
))
def spice_console_split(ctx: CheckContext) -> None:
    try:
        ini = ctx.facts.get(load_config, "nova")
    except MissingEvidence:
        raise NotApplicable("no nova.conf on this node") from None
    roles = node_roles(ctx, ini)
    spice = ini.get("spice", "enabled")
    spice_on = as_bool(spice, False)
    url, url_ev = _setting(ini, "spice", "html5proxy_base_url", SPICE_DEFAULT_URL)
    url_set = ini.get("spice", "html5proxy_base_url") is not None
    hits = signature_hits(ctx)
    type_errors = [h for h in (hits.get("R-CONSOLE-TYPE") if hits is not None and hits.covered("R-CONSOLE-TYPE")
                               else []) if h.groups.get("t", "").startswith("spice")]
    if not spice_on and not url_set and not roles.spice_proxy and not type_errors:
        raise NotApplicable("SPICE consoles are not configured on this node ([spice] enabled is false)")
    if roles.compute:
        _compute_side(ctx, ini, spice, spice_on, url, url_ev, roles)
    if roles.spice_proxy:
        _proxy_side(ctx, ini, roles)
    if type_errors:
        last = type_errors[-1]
        ctx.fail(f"{len(type_errors)} \"{last.groups.get('t')}\" console request(s) refused in the logs: the console "
                 "type the client asks for is not enabled where the request lands", severity=Severity.high,
                 resource="console-type", evidence=[type_errors[0].evidence(), last.evidence()])
    if not ctx.outcomes:
        where = " and ".join(r for r, on in (("compute", roles.compute), ("SPICE proxy", roles.spice_proxy)) if on)
        ctx.ok(f"SPICE console settings consistent on this {where or 'node'}", evidence=[url_ev])


def _compute_side(ctx: CheckContext, ini: IniFile, spice: IniValue | None, spice_on: bool, url: str,
                  url_ev: Evidence, roles: Roles) -> None:
    if not spice_on:
        ev = [spice.evidence()] if spice is not None else [Evidence(source=ini.sources[0] if ini.sources else "",
                                                                     excerpt="[spice] enabled not set (default False)")]
        ctx.fail("this compute points clients at a SPICE proxy but [spice] enabled is false: SPICE console "
                 "requests for its instances fail (Unavailable console type spice-html5)", severity=Severity.high,
                 resource="spice.enabled", evidence=[*ev, url_ev])
        return
    vnc_on, vnc_ev = _vnc_enabled(ini)
    if vnc_on:
        ctx.warn("[vnc] enabled is still true next to SPICE: instances get both consoles and clients may pick VNC",
                 severity=Severity.medium, resource="vnc.enabled", evidence=[vnc_ev])
    listen, listen_ev = _setting(ini, "spice", "server_listen", "127.0.0.1")
    if listen in LOOPBACK:
        ctx.fail(f"[spice] server_listen = {listen}: guests' SPICE servers listen on loopback only, the proxy "
                 "cannot connect", severity=Severity.high, resource="spice.server_listen", evidence=[listen_ev])
    client, client_ev = _setting(ini, "spice", "server_proxyclient_address", "127.0.0.1")
    local = _local_addresses(ctx)
    if client in LOOPBACK:
        ctx.fail(f"[spice] server_proxyclient_address = {client}: the proxy is told to reach guests on loopback",
                 severity=Severity.high, resource="spice.server_proxyclient_address", evidence=[client_ev])
    # A host name cannot be compared with the interface list; IPv6 spellings are compared normalised.
    elif local is not None and (ip := _ip(client)) is not None and ip not in local:
        ctx.fail(f"[spice] server_proxyclient_address = {client} is not an address of this node",
                 severity=Severity.high, resource="spice.server_proxyclient_address", evidence=[client_ev])
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK or not urlsplit(url).path.endswith("spice_auto.html"):
        why = "still the 127.0.0.1 default" if host in LOOPBACK else "does not end in spice_auto.html"
        ctx.fail(f"[spice] html5proxy_base_url = {url} {why}: the console link handed to clients is wrong",
                 severity=Severity.high, resource="spice.html5proxy_base_url", evidence=[url_ev])


def _proxy_side(ctx: CheckContext, ini: IniFile, roles: Roles) -> None:
    if roles.spice_proxy_running is False:
        ctx.fail("nova-spicehtml5proxy is installed but not running: no SPICE console can be opened through this "
                 "node", severity=Severity.high, resource="nova-spicehtml5proxy")
    web, web_ev = _setting(ini, "DEFAULT", "web", "/usr/share/spice-html5")
    # sosreports do not collect /usr/share: the web root can only be checked on a live host.
    if ctx.view.kind == "live" and not ctx.view.exists(f"{web.strip('/')}/spice_auto.html"):
        ctx.fail(f"{web}/spice_auto.html does not exist: the proxy serves no SPICE HTML5 client",
                 severity=Severity.high, resource="DEFAULT.web", evidence=[web_ev])


# ---------------------------------------------------------------------------------------------------------
# CON-002
# ---------------------------------------------------------------------------------------------------------

OUTSIDER = "203.0.113.77"
_QEMU = re.compile(r"qemu-kvm|qemu-system-")


@dataclass(frozen=True)
class Proxy:
    name: str
    host: str
    port: int
    running: bool | None
    evidence: list[Evidence]


def _proxies(ini: IniFile, roles: Roles) -> list[Proxy]:
    out: list[Proxy] = []
    if roles.spice_proxy:
        host, host_ev = _setting(ini, "spice", "html5proxy_host", "0.0.0.0")
        port, port_ev = _setting(ini, "spice", "html5proxy_port", "6082")
        if port.isdigit():
            out.append(Proxy("nova-spicehtml5proxy", host, int(port), roles.spice_proxy_running, [host_ev, port_ev]))
    if roles.novnc_proxy:
        host, host_ev = _setting(ini, "vnc", "novncproxy_host", "0.0.0.0")
        port, port_ev = _setting(ini, "vnc", "novncproxy_port", "6080")
        if port.isdigit():
            out.append(Proxy("nova-novncproxy", host, int(port), roles.novnc_proxy_running, [host_ev, port_ev]))
    return out


def _guest_consoles(ctx: CheckContext, ini: IniFile) -> bool:
    """Guests run here with a VNC or SPICE display, so the lack of a listener list hides their ports."""
    table = ctx.facts.maybe(load_processes)
    if table is None or not table.matching(_QEMU):
        return False
    return _vnc_enabled(ini)[0] or as_bool(ini.get("spice", "enabled"), False)


def _serves(listener: Listener, host: str) -> bool:
    return listener.wildcard or host in ("0.0.0.0", "::", "") or listener.address == host


@check(CheckMeta(
    id="CON-002",
    title="Console proxy listening and reachable",
    severity=Severity.medium,
    area="console",
    tale=(
        "Even with SPICE configured right, consoles only opened after an iptables rule let TCP 6082 in on the "
        "proxy node (\"Allow SPICE connections for console access\"). A proxy nobody can connect to looks "
        "exactly like a broken one."
    ),
    description=(
        "On a node running (or with the package of) nova-spicehtml5proxy or nova-novncproxy: something must "
        "listen on the configured html5proxy_host:port / novncproxy_host:port (HAProxy in front counts), and "
        "the INPUT chain must not drop a new connection to that port. On computes, the QEMU display ports "
        "(listeners of qemu processes) must not be dropped by INPUT, or the proxy cannot reach the guests."
    ),
    risk="Consoles fail to open for every instance served through this proxy or hosted on this compute.",
    remediation=[
        RemediationStep(kind=StepKind.safe, text="Allow the console ports and persist the rule.", commands=[
            "iptables -I INPUT -p tcp -m multiport --dports 6080,6082 -m comment --comment \"console proxy\" -j ACCEPT",
            "iptables -I INPUT -p tcp -s <proxy-ip> --dport 5900:6923 -m comment --comment \"qemu displays\" -j ACCEPT",
            "iptables-save > /etc/sysconfig/iptables   # or firewall-cmd --permanent --add-port=6082/tcp",
        ]),
        RemediationStep(kind=StepKind.destructive, text="Start the proxy if it is down.",
                        commands=["systemctl restart nova-spicehtml5proxy   # or nova-novncproxy"]),
    ],
    references=[
        "kolla-ansible ansible/group_vars/all/nova.yml (nova_spicehtml5proxy_port 6082, HAProxy frontends)",
        "nova nova/conf/spice.py (html5proxy_host/port), nova/conf/vnc.py (novncproxy_host/port)",
    ],
    reads={
        "live": ["etc/nova/nova.conf", "cmd:ss -ltnup", "cmd:iptables -t filter -nvL", "cmd:ps auxwww"],
        "sosreport": ["etc/nova/nova.conf", "sos_commands/networking/netstat_-W_-neopa",
                      "sos_commands/networking/ss_-peaonmi", "sos_commands/firewall_tables/*",
                      "sos_commands/process/ps_auxwwwm"],
        "kolla": ["etc/kolla/nova-spicehtml5proxy/nova.conf", "side bundle: ss, iptables"],
    },
))
def console_proxy_reachable(ctx: CheckContext) -> None:
    try:
        ini = ctx.facts.get(load_config, "nova")
    except MissingEvidence:
        raise NotApplicable("no nova.conf: no console proxy or compute here") from None
    roles = node_roles(ctx, ini)
    proxies = _proxies(ini, roles)
    listeners = ctx.facts.maybe(load_listeners)
    qemu = [item for item in listeners.listeners if item.process and _QEMU.search(item.process)] \
        if listeners is not None else []
    if not proxies and not (roles.compute and qemu):
        if listeners is None and roles.compute and _guest_consoles(ctx, ini):
            raise MissingEvidence("sos_commands/networking/ss_-peaonmi or netstat_-W_-neopa (cmd: ss -ltnup): "
                                  "needed to find the QEMU display ports of the running guests")
        raise NotApplicable("no console proxy on this node and no QEMU display listener")
    if listeners is None:
        raise MissingEvidence("sos_commands/networking/ss_-peaonmi or netstat_-W_-neopa (cmd: ss -ltnup)")
    firewall = ctx.facts.maybe(load_firewall)
    for proxy in proxies:
        serving = [item for item in listeners.on_port(proxy.port) if _serves(item, proxy.host)]
        if not serving:
            state = "runs" if proxy.running else "is installed"
            severity = Severity.high if proxy.running else Severity.medium
            ctx.report(severity, f"{proxy.name} {state} but nothing listens on {proxy.host}:{proxy.port}",
                       resource=f"{proxy.name}:{proxy.port}", evidence=proxy.evidence)
            continue
        if firewall is not None:
            verdict = firewall.verdict("tcp", proxy.port, OUTSIDER)
            if verdict.action != "ACCEPT" and verdict.certain:
                ctx.warn(f"INPUT {verdict.action.lower()}s new connections to {proxy.port} ({proxy.name}): "
                         "consoles cannot be opened from outside this node", severity=Severity.medium,
                         resource=f"{proxy.name}:{proxy.port}:firewall",
                         evidence=[*verdict.evidence(), serving[0].evidence()])
    if firewall is not None:
        blocked = [item for item in qemu if not item.loopback
                   and (v := firewall.verdict("tcp", item.port, None)).action != "ACCEPT" and v.certain]
        if blocked:
            verdict = firewall.verdict("tcp", blocked[0].port, None)
            ports = ", ".join(str(item.port) for item in blocked[:8])
            ctx.fail(f"INPUT {verdict.action.lower()}s the QEMU display port(s) {ports}: console proxies cannot "
                     "reach the guests on this compute", severity=Severity.high, resource="qemu-display-ports",
                     evidence=[*verdict.evidence(), blocked[0].evidence()])
    if not ctx.outcomes:
        names = ", ".join(f"{p.name}:{p.port}" for p in proxies) or f"{len(qemu)} QEMU display listener(s)"
        seen = "" if firewall is not None else " (no firewall rules collected)"
        ctx.ok(f"{names} listening{seen}")


# ---------------------------------------------------------------------------------------------------------
# CON-003
# ---------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------
# CON-004
# ---------------------------------------------------------------------------------------------------------

_DASHBOARD_PACKAGES = ("openstack-dashboard", "python3-django-horizon", "python-django-horizon")


def _mpm_loads(config: ApacheConfig | None) -> list[Evidence]:
    if config is None:
        return []
    return [d.evidence() for d in config.mpm_loads()]


@check(CheckMeta(
    id="CON-004",
    title="Horizon Apache MPM / mod_wsgi mode",
    severity=Severity.low,
    area="console",
    tale=(
        "The dashboard ran on CentOS 7.1's Apache with the prefork MPM, one process per connection. Moving to "
        "the event MPM in 00-mpm.conf made it much lighter — keeping in mind that anything still using "
        "mod_php needs prefork or php-fpm."
    ),
    description=(
        "On a node serving Horizon: which MPM Apache loads (`apachectl -M`, else the LoadModule lines in "
        "conf.modules.d / mods-enabled), whether PHP is loaded, and whether the dashboard's WSGIScriptAlias "
        "runs in a WSGIDaemonProcess group. prefork with the dashboard embedded in the Apache children is "
        "low; prefork without mod_php is information (event is available); more than one MPM LoadModule is "
        "medium (Apache refuses to start with two)."
    ),
    risk=(
        "prefork with embedded mod_wsgi loads a Django process into every Apache child: memory use grows "
        "with the connection count and the dashboard slows down under load."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Keep exactly one MPM (event) and run Horizon in a mod_wsgi daemon process group."), commands=[
            "sed -i 's/^LoadModule mpm_prefork_module/#&/; s/^#\\(LoadModule mpm_event_module\\)/\\1/' "
            "/etc/httpd/conf.modules.d/00-mpm.conf",
            "a2dismod mpm_prefork && a2enmod mpm_event   # Debian/Ubuntu",
            "# dashboard vhost: WSGIDaemonProcess dashboard processes=3 threads=10 / WSGIProcessGroup dashboard",
        ]),
        RemediationStep(kind=StepKind.destructive, text="Restart Apache (drops open dashboard sessions).",
                        commands=["systemctl restart httpd   # apache2 on Debian/Ubuntu"]),
    ],
    references=[
        "Red Hat JBCS/RHEL docs: prefork default on RHEL 7, event on RHEL 8/9 (via docs search; CATALOGUE CON-004)",
        "sos sos/report/plugins/apache.py (apachectl -M), openstack_horizon.py (openstack-dashboard.conf)",
    ],
    reads={
        "live": ["cmd:apachectl -M", "etc/httpd/conf.modules.d/*.conf", "etc/apache2/mods-enabled/*.load",
                 "etc/httpd/conf.d/openstack-dashboard.conf", "etc/apache2/conf-enabled/openstack-dashboard.conf"],
        "sosreport": ["sos_commands/apache/apachectl_-M", "etc/httpd/conf.modules.d/*", "etc/httpd/conf.d/*",
                      "etc/apache2/*"],
        "kolla": ["etc/kolla/horizon/horizon.conf"],
    },
))
def horizon_apache_mode(ctx: CheckContext) -> None:
    config = ctx.facts.maybe(load_apache_config)
    pkgs = ctx.facts.maybe(load_packages)
    apps = wsgi_apps(config) if config is not None else []
    if not apps and not _installed(pkgs, _DASHBOARD_PACKAGES):
        raise NotApplicable("no Horizon dashboard vhost or package on this node")
    if config is None:
        raise MissingEvidence("Apache configuration (etc/httpd/*, etc/apache2/*)")
    loads = _mpm_loads(config)
    loaded = ctx.facts.maybe(load_loaded_modules)
    mpm = loaded.mpm if loaded is not None else None
    mpm_ev = [loaded.evidence(mpm)] if loaded is not None and mpm else loads[:1]
    if len({e.excerpt.split()[1] for e in loads if len(e.excerpt.split()) > 1}) > 1:
        ctx.warn(f"{len(loads)} MPM LoadModule lines are active: Apache refuses to start with more than one MPM",
                 severity=Severity.medium, resource="mpm", evidence=loads)
    if mpm is None and loads:
        mpm = loads[0].excerpt.split()[1] if len(loads[0].excerpt.split()) > 1 else None
    php = (loaded is not None and any(n.startswith("php") for n in loaded.names)) or any(
        d.args and d.args[0].startswith("php") for d in config.load_modules())
    if mpm == "mpm_prefork_module":
        embedded = [a for a in apps if not a.daemon_mode]
        if embedded:
            ctx.warn("prefork MPM with the dashboard in embedded mod_wsgi mode (no WSGIDaemonProcess/"
                     "WSGIProcessGroup): every Apache child loads Horizon", severity=Severity.low,
                     resource="mpm:prefork", evidence=[*mpm_ev, embedded[0].script_alias.evidence()])
        elif not php:
            ctx.ok("prefork MPM without mod_php: the event MPM is available and lighter", evidence=mpm_ev)
        else:
            ctx.ok("prefork MPM kept for mod_php; the dashboard runs in a mod_wsgi daemon group", evidence=mpm_ev)
    if not ctx.outcomes:
        mode = "daemon" if apps and all(a.daemon_mode for a in apps) else "embedded" if apps else "unknown"
        ctx.ok(f"Apache MPM {mpm or 'unknown'}; dashboard mod_wsgi mode {mode}", evidence=mpm_ev)
