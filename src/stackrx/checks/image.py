"""Images: VMDK sub-formats and the image format-inspection policy of Glance and Nova (IMG-002)."""

from __future__ import annotations

from stackrx.engine import CheckContext, check
from stackrx.errors import MissingEvidence, NotApplicable
from stackrx.facts.ini import IniFile, IniValue, as_bool, as_list, load_config, parse_ini
from stackrx.models import CheckMeta, Evidence, RemediationStep, Severity, StepKind

GLANCE_API_FILES = ("etc/glance/glance-api.conf",
                    "var/lib/config-data/puppet-generated/glance_api/etc/glance/glance-api.conf")
VMDK_DEFAULT = ("streamOptimized", "monolithicSparse")
GLANCE_DISK_FORMATS_DEFAULT = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")


def load_glance_api(ctx: CheckContext) -> IniFile | None:
    paths = [p for p in GLANCE_API_FILES if ctx.view.exists(p)] + ctx.view.glob("etc/glance/glance-api.conf.d/*.conf")
    texts = [t for t in (ctx.view.read_text(p) for p in paths) if t is not None]
    return parse_ini(texts) if texts else None


def _list_setting(ini: IniFile, section: str, key: str, default: tuple[str, ...]) -> tuple[tuple[str, ...],
                                                                                           IniValue | None]:
    value = ini.get(section, key)
    if value is None:
        return default, None
    return tuple(as_list(value)), value


def _ev(value: IniValue | None, ini: IniFile, section: str, key: str, default: tuple[str, ...]) -> Evidence:
    if value is not None:
        return value.evidence()
    return Evidence(source=ini.sources[0] if ini.sources else "",
                    excerpt=f"[{section}] {key} not set (default {', '.join(default)})")


@check(CheckMeta(
    id="IMG-002",
    title="VMDK sub-format and image format-inspection policy",
    severity=Severity.medium,
    area="image",
    tale=(
        "A Bitnami appliance shipped as a VirtualBox OVF went into Glance as a VMDK image. KVM can run some "
        "VMDK variants, but which sub-formats are accepted — and whether the bytes are checked against the "
        "declared format at all — is decided by Glance and Nova settings that have to agree."
    ),
    description=(
        "Glance: `[image_format] require_image_format_match = False` turns off the check that uploaded "
        "content matches its disk_format (medium). Nova: `[compute] vmdk_allowed_types` empty (no VMDK can "
        "boot) or different from Glance's `[image_format] vmdk_allowed_types` (uploads succeed, boots fail) "
        "is medium, and `[workarounds] disable_deep_image_inspection = True` is medium (security trade-off). "
        "When Glance's config is not on this node, Nova's list is compared with Glance's default. VMware "
        "(vmwareapi driver) computes, where VMDK is native, are left alone. Whether a given image's VMDK "
        "create-type is allowed needs the image bytes (`qemu-img info`): not part of a node scan."
    ),
    risk=(
        "Mismatched lists let users upload images that no compute will boot; disabled inspection accepts "
        "disguised formats (a VMDK pointing at host files) that format inspection exists to refuse."
    ),
    remediation=[
        RemediationStep(kind=StepKind.safe, text=(
            "Keep inspection on and the VMDK lists aligned (the defaults are streamOptimized, monolithicSparse); "
            "convert other sub-formats before upload."), commands=[
            "crudini --del /etc/glance/glance-api.conf image_format require_image_format_match",
            "crudini --set /etc/nova/nova.conf compute vmdk_allowed_types streamOptimized,monolithicSparse",
            "crudini --del /etc/nova/nova.conf workarounds disable_deep_image_inspection",
            "qemu-img info --output=json <file.vmdk>   # format-specific.data.create-type",
            "qemu-img convert -f vmdk -O raw <in.vmdk> <out.raw>",
        ]),
    ],
    references=[
        "glance glance/common/config.py ([image_format] vmdk_allowed_types, require_image_format_match, "
        "disk_formats)",
        "nova nova/conf/compute.py ([compute] vmdk_allowed_types), nova/conf/workarounds.py "
        "(disable_deep_image_inspection)",
        "Kolla glance-api.conf path UNVERIFIED (decided: read through the Kolla view's etc/glance/ mapping)",
    ],
    reads={
        "live": ["etc/glance/glance-api.conf", "etc/nova/nova.conf"],
        "sosreport": ["etc/glance/glance-api.conf", "etc/nova/nova.conf",
                      "var/lib/config-data/puppet-generated/glance_api/etc/glance/glance-api.conf"],
        "kolla": ["etc/kolla/glance-api/glance-api.conf", "etc/kolla/nova-compute/nova.conf"],
    },
))
def image_format_policy(ctx: CheckContext) -> None:
    glance = load_glance_api(ctx)
    try:
        nova: IniFile | None = ctx.facts.get(load_config, "nova")
    except MissingEvidence:
        nova = None
    if glance is None and nova is None:
        raise NotApplicable("no glance-api.conf or nova.conf on this node")
    glance_vmdk: tuple[str, ...] = VMDK_DEFAULT
    glance_accepts_vmdk = True
    if glance is not None:
        match = glance.get("image_format", "require_image_format_match")
        if match is not None and not as_bool(match, True):
            ctx.warn("Glance require_image_format_match = False: uploads are no longer checked against their "
                     "declared disk_format", severity=Severity.medium, resource="glance:require_image_format_match",
                     evidence=[match.evidence()])
        glance_vmdk, _ = _list_setting(glance, "image_format", "vmdk_allowed_types", VMDK_DEFAULT)
        formats, _ = _list_setting(glance, "image_format", "disk_formats", GLANCE_DISK_FORMATS_DEFAULT)
        glance_accepts_vmdk = "vmdk" in formats
    if nova is not None:
        _nova_side(ctx, nova, glance, glance_vmdk, glance_accepts_vmdk)
    if not ctx.outcomes:
        ctx.ok("format inspection on; VMDK sub-format lists agree"
               + ("" if glance is not None else " (Glance config not on this node: compared with its default)"))


def _nova_side(ctx: CheckContext, nova: IniFile, glance: IniFile | None, glance_vmdk: tuple[str, ...],
               glance_accepts_vmdk: bool) -> None:
    driver = nova.get("DEFAULT", "compute_driver")
    if driver is not None and "vmware" in driver.value.lower():
        ctx.ok("VMware compute driver: VMDK is native, Nova's libvirt VMDK policy does not apply",
               evidence=[driver.evidence()])
        return
    inspection = nova.get("workarounds", "disable_deep_image_inspection")
    if inspection is not None and as_bool(inspection, False):
        ctx.warn("Nova disable_deep_image_inspection = True: image format inspection is off on this compute",
                 severity=Severity.medium, resource="nova:disable_deep_image_inspection",
                 evidence=[inspection.evidence()])
    nova_vmdk, value = _list_setting(nova, "compute", "vmdk_allowed_types", VMDK_DEFAULT)
    if not glance_accepts_vmdk:
        return
    nova_ev = _ev(value, nova, "compute", "vmdk_allowed_types", VMDK_DEFAULT)
    if not nova_vmdk:
        ctx.warn("Nova [compute] vmdk_allowed_types is empty: no VMDK image can boot, though Glance accepts VMDK "
                 "uploads", severity=Severity.medium, resource="nova:vmdk_allowed_types", evidence=[nova_ev])
    elif {t.lower() for t in nova_vmdk} != {t.lower() for t in glance_vmdk}:
        glance_value = glance.get("image_format", "vmdk_allowed_types") if glance is not None else None
        glance_ev = glance_value.evidence() if glance_value is not None else Evidence(
            source=glance.sources[0] if glance is not None and glance.sources else "",
            excerpt=f"Glance [image_format] vmdk_allowed_types: {', '.join(glance_vmdk)}"
            + ("" if glance is not None else " (Glance default; its config is not on this node)"))
        ctx.warn(f"Nova allows VMDK sub-formats {', '.join(nova_vmdk)} but Glance {', '.join(glance_vmdk)}: some "
                 "images upload fine and then fail to boot (or the reverse)", severity=Severity.medium,
                 resource="vmdk_allowed_types", evidence=[nova_ev, glance_ev])
