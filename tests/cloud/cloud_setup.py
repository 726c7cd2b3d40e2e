"""The cloud the `cloud` tests run against: a real Keystone whose catalog lists the fake services.

The catalog is registered the way a deployment tool would: compute, network and image point at the fake
services, object-store at a loopback port where nothing listens (the packstack story of STO-001). Service
users exist for nova, neutron and glance; none for object-store (the ceph_rgw story of UPG-004).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cloud_fake_services import FakeCloud
from cloud_keystone import ADMIN_PASSWORD, REGION, Keystone

SERVICE_PASSWORD = "svc-Pa55word-xyz"


@dataclass
class CloudEnv:
    keystone: Keystone
    fake: FakeCloud
    clouds_yaml: Path
    dead_port: int
    setup_seconds: float

    def admin(self) -> Any:
        import openstack

        return openstack.connect(auth_url=self.keystone.url, username="admin", password=ADMIN_PASSWORD,
                                 project_name="admin", user_domain_name="Default", project_domain_name="Default",
                                 region_name=REGION, identity_api_version="3")

    def os_env(self) -> dict[str, str]:
        """The same admin credentials as OS_* variables (no clouds.yaml)."""
        return {"OS_AUTH_URL": self.keystone.url, "OS_USERNAME": "admin", "OS_PASSWORD": ADMIN_PASSWORD,
                "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_REGION_NAME": REGION, "OS_IDENTITY_API_VERSION": "3"}


def register(env: CloudEnv) -> None:
    conn = env.admin()
    identity = conn.identity
    services = {"compute": "nova", "network": "neutron", "image": "glance", "object-store": "swift"}
    for stype, name in services.items():
        service = identity.create_service(type=stype, name=name, is_enabled=True)
        if stype == "object-store":
            url = f"http://127.0.0.1:{env.dead_port}/v1/AUTH_%(tenant_id)s"
        else:
            url = env.fake.url(stype)
        for interface in ("public", "internal", "admin"):
            identity.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=REGION)
    project = identity.create_project(name="service", domain_id="default", description="service users")
    admin_role = next(iter(identity.roles(name="admin")))
    for name in ("nova", "neutron", "glance"):
        user = identity.create_user(name=name, password=SERVICE_PASSWORD, domain_id="default",
                                    default_project_id=project.id)
        identity.assign_project_role_to_user(project, user, admin_role)
    conn.close()


def write_clouds_yaml(path: Path, keystone: Keystone, dead_port: int) -> None:
    auth = {"auth_url": keystone.url, "username": "admin", "password": ADMIN_PASSWORD, "project_name": "admin",
            "user_domain_name": "Default", "project_domain_name": "Default"}
    base = {"region_name": REGION, "identity_api_version": "3"}
    clouds = {
        "testcloud": {**base, "auth": auth},
        "badpass": {**base, "auth": {**auth, "password": "wrong-" + ADMIN_PASSWORD}},
        "deadauth": {**base, "auth": {**auth, "auth_url": f"http://127.0.0.1:{dead_port}/v3"}},
    }
    path.write_text(yaml.safe_dump({"clouds": clouds}))
