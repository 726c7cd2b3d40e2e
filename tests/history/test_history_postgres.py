"""The history store on a real PostgreSQL (Debian's server, started on loopback for this session)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from history_samples import VAR_FULL_AT, daily_report

from stackrx.history.store import latest_report, load_series, store_run
from stackrx.history.trend import run_trend


def _need(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        _need("PostgreSQL server missing: apt-get install -y --no-install-recommends postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _need("psycopg missing (pip install 'psycopg[binary]')")
    bindir = Path(bins[-1]).parent
    # PostgreSQL refuses to run as root: run it as the `postgres` user the Debian package creates.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    tmp = Path(tempfile.mkdtemp(prefix="stackrx-pg-"))
    data, port = tmp / "data", _free_port()
    if as_user:
        shutil.chown(tmp, "postgres")
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "stackrx", "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "log"), "-w", "-t", "60",
                    "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql+psycopg://stackrx@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)


def test_runs_and_forecasts_on_postgresql(postgres_url: str) -> None:
    for day in range(30):
        store_run(daily_report(day, host="pg-node"), postgres_url)
    series = load_series(postgres_url, host="pg-node", metric="fs_used_bytes:/var")
    assert len(series) == 1 and len(series[0].points) == 30
    assert series[0].points[0].at.isoformat() == "2026-11-01T09:00:00"  # stored as naive UTC
    latest = latest_report(postgres_url, host="pg-node")
    assert latest is not None and latest.target.endswith("-29")
    report, _ = run_trend(postgres_url, host="pg-node")
    var = next(r for r in report.results if r.check_id == "STO-T01" and r.resource == "/var")
    forecast_day = date.fromisoformat(var.message.split("around ")[1][:10])
    assert abs(VAR_FULL_AT.date() - forecast_day) <= timedelta(days=1), var.message
    assert var.evidence[0].source == f"history:{postgres_url}"


def test_store_urls_with_passwords_are_redacted_in_errors() -> None:
    from stackrx.errors import UsageError

    with pytest.raises(UsageError) as info:
        load_series("postgresql+psycopg://stackrx:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(info.value) and "stackrx:***@" in str(info.value)
