"""The OpenStack APIs as a source: openstacksdk from clouds.yaml / OS_* variables, read-only GETs only."""
