"""Host views: live host, sosreport directory or tarball, Kolla config tree."""

from __future__ import annotations

from pathlib import Path

from stackrx.errors import UsageError
from stackrx.sources.base import HostView

TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")


def open_target(target: str | None) -> HostView:
    """Pick the host view for what the operator pointed at; a clear UsageError otherwise."""
    if target is None:
        from stackrx.sources.live import LiveView

        return LiveView()
    path = Path(target)
    if not path.exists():
        raise UsageError(f"{target}: no such file or directory")
    if path.is_file():
        if path.name.endswith(TARBALL_SUFFIXES):
            from stackrx.sources.tarball import open_tarball

            return open_tarball(path)
        raise UsageError(f"{target}: not a directory or a .tar/.tar.gz/.tar.xz/.tar.bz2 sosreport")
    from stackrx.sources.kolla import KollaView, looks_like_kolla
    from stackrx.sources.sosreport import SosReportView, looks_like_sosreport

    # A Kolla host with a sos side bundle is still a Kolla tree: the config mapping matters more.
    if (path / "etc" / "kolla").is_dir():
        return KollaView(path)
    if looks_like_sosreport(path):
        return SosReportView(path)
    if looks_like_kolla(path):
        return KollaView(path)
    raise UsageError(
        f"{target}: neither a sosreport (no sos_commands/) nor a Kolla tree (no etc/kolla/ or */nova.conf); "
        "for this host run `stackrx scan` without a target"
    )
