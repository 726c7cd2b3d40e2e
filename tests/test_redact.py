from __future__ import annotations

import pytest

from stackrx.redact import redact


@pytest.mark.parametrize(("text", "secret"), [
    ("transport_url = rabbit://openstack:Sup3rS3cret@10.0.0.5:5672//", "Sup3rS3cret"),
    ("connection = mysql+pymysql://nova:n0va_pw@db/nova", "n0va_pw"),
    ("password = hunter2", "hunter2"),
    ('{"admin_token": "a1b2c3d4e5"}', "a1b2c3d4e5"),
    ("X-Auth-Token: gAAAAABlongfernettokenvalue0123456789", "gAAAAABlongfernettokenvalue0123456789"),
    ("nova-manage --os-password s3cr3t db sync", "s3cr3t"),
    ("OS_PASSWORD=abc123", "abc123"),
    ("auth_token:9f8e7d6c5b4a", "9f8e7d6c5b4a"),
])
def test_secrets_are_masked(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out and "***" in out


@pytest.mark.parametrize("text", [
    "paste.filter_factory = keystonemiddleware.auth_token:filter_factory",
    "resource filter:s3token:auth_uri",
    "use = egg:swift#s3token",
    "password = *********",
])
def test_entry_points_and_masked_values_are_left_alone(text: str) -> None:
    assert redact(text) == text
