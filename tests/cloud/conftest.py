"""Session fixtures for the `cloud` tests: a real Keystone plus the fake compute/network/image services."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from cloud_fake_services import FakeCloud
from cloud_keystone import Keystone, KeystoneUnavailable, free_port, keystone_venv
from cloud_setup import CloudEnv, register, write_clouds_yaml


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"real Keystone needed in CI: {reason}")
    pytest.skip(f"real Keystone not available here: {reason}")


@pytest.fixture(scope="session")
def cloud_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudEnv]:
    start = time.monotonic()
    try:
        venv = keystone_venv()
    except KeystoneUnavailable as exc:
        _unavailable(str(exc))
    work = tmp_path_factory.mktemp("keystone")
    keystone = Keystone(venv, work, free_port())
    fake = FakeCloud()
    fake.start()
    try:
        keystone.bootstrap()
        keystone.start()
    except KeystoneUnavailable as exc:
        fake.stop()
        _unavailable(str(exc))
    env = CloudEnv(keystone, fake, work / "clouds.yaml", free_port(), 0.0)
    try:
        register(env)
        write_clouds_yaml(env.clouds_yaml, keystone, env.dead_port)
        env.setup_seconds = round(time.monotonic() - start, 1)
        yield env
    finally:
        keystone.stop()
        fake.stop()


@pytest.fixture
def cloud(cloud_env: CloudEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudEnv]:
    """The session cloud with the default scenario restored and only our clouds.yaml visible."""
    for key in list(os.environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud_env.clouds_yaml))
    cloud_env.fake.reset()
    yield cloud_env
    cloud_env.fake.reset()
