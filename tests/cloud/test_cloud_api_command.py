"""`stackrx cloud` as an operator runs it: a real process, clouds.yaml or OS_*, exit codes, no secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
from cloud_keystone import ADMIN_PASSWORD
from cloud_setup import SERVICE_PASSWORD, CloudEnv

from stackrx.models import ScanReport, Severity, Status

# `stackrx cloud` until the coordinator wires the command into stackrx.cli (add_command is idempotent).
LAUNCH = ("import sys; from stackrx.cli import cli, main; from stackrx.commands.cloud import cloud; "
          "cli.add_command(cloud); main(sys.argv[1:])")
SECRETS = (ADMIN_PASSWORD, SERVICE_PASSWORD)


def stackrx(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    proc = subprocess.run([sys.executable, "-c", LAUNCH, *args], capture_output=True, text=True, timeout=180,
                          env={**base, "COLUMNS": "200", **(env or {})})
    for secret in SECRETS:
        assert secret not in proc.stdout and secret not in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def yaml_env(cloud: CloudEnv) -> dict[str, str]:
    return {"OS_CLIENT_CONFIG_FILE": str(cloud.clouds_yaml)}


def test_table_output_and_findings_exit_code(cloud: CloudEnv) -> None:
    proc = stackrx("cloud", "--os-cloud", "testcloud", env=yaml_env(cloud))
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr == ""  # no library warnings on the operator's terminal
    assert "cloud:testcloud" in proc.stdout and "(api: http://127.0.0.1:" in proc.stdout
    for cid in ("STO-001", "HA-F01", "CLD-001", "CLD-002", "IMG-001", "IMG-002", "UPG-004"):
        assert cid in proc.stdout
    assert "split brain" in proc.stdout


def test_json_report_follows_the_schema(cloud: CloudEnv, tmp_path: Path) -> None:
    out = tmp_path / "cloud.json"
    proc = stackrx("cloud", "--format", "json", "--output", str(out), env={**yaml_env(cloud), "OS_CLOUD": "testcloud"})
    assert proc.returncode == 3, proc.stderr
    data = json.loads(out.read_text())
    jsonschema.validate(data, ScanReport.model_json_schema())
    report = ScanReport.model_validate(data)
    (host,) = report.hosts
    assert (host.name, host.kind) == ("cloud:testcloud", "api")
    assert {r.host for r in report.results} == {"cloud:testcloud"}
    split = [r for r in report.results if r.check_id == "HA-F01" and r.status is Status.fail]
    assert split and split[0].severity is Severity.critical and split[0].remediation
    assert all(r["key"] == f"{r['check_id']}|cloud:testcloud|{r['resource']}" for r in data["results"])


def test_os_variables_and_fail_on(cloud: CloudEnv) -> None:
    proc = stackrx("cloud", "--only", "IMG-001", "--format", "json", env=cloud.os_env())
    assert proc.returncode == 0, proc.stderr  # medium only, --fail-on high
    report = ScanReport.model_validate_json(proc.stdout)
    assert report.hosts[0].name == "cloud:envvars"
    assert {r.severity for r in report.results if r.status is Status.warn} == {Severity.medium}
    assert stackrx("cloud", "--only", "IMG-001", "--fail-on", "medium", env=cloud.os_env()).returncode == 3


def test_wrong_password_is_one_line_exit_1(cloud: CloudEnv) -> None:
    proc = stackrx("cloud", "--os-cloud", "badpass", env=yaml_env(cloud))
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (f"stackrx: error: authentication refused by {cloud.keystone.url} (check user, password, "
                           "project and domain)\n")


def test_unreachable_identity_endpoint(cloud: CloudEnv) -> None:
    proc = stackrx("cloud", "--os-cloud", "deadauth", "--timeout", "3", env=yaml_env(cloud))
    assert proc.returncode == 1
    assert proc.stderr == (f"stackrx: error: cannot reach the identity endpoint "
                           f"http://127.0.0.1:{cloud.dead_port}/v3: connection refused\n")


def test_unknown_cloud_and_missing_credentials(cloud: CloudEnv, tmp_path: Path) -> None:
    proc = stackrx("cloud", "--os-cloud", "nosuch", env=yaml_env(cloud))
    assert proc.returncode == 1
    assert proc.stderr.startswith("stackrx: error: cannot load the cloud configuration: ")
    assert "nosuch" in proc.stderr and proc.stderr.count("\n") == 1
    empty = tmp_path / "clouds.yaml"
    empty.write_text("clouds: {}\n")
    proc = stackrx("cloud", env={"OS_CLIENT_CONFIG_FILE": str(empty), "HOME": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.startswith("stackrx: error: incomplete credentials (missing auth_url")


def test_usage_errors(cloud: CloudEnv) -> None:
    proc = stackrx("cloud", "--service-user", "object-store", env=yaml_env(cloud))
    assert proc.returncode == 1 and "is not TYPE=NAME" in proc.stderr
    proc = stackrx("cloud", "--only", "NET-001", env=yaml_env(cloud))
    assert proc.returncode == 1 and "leave no cloud check to run" in proc.stderr


def test_help_names_the_configuration() -> None:
    proc = stackrx("cloud", "--help")
    assert proc.returncode == 0
    for word in ("--os-cloud", "clouds.yaml", "OS_AUTH_URL", "--probe-timeout", "--service-user", "Only GET"):
        assert word in proc.stdout
