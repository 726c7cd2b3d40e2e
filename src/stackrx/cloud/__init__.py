"""Cloud-level sources: the OpenStack APIs and the service databases."""
