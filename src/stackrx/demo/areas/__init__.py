"""Per-area contributions to the demo cloud: healthy state and planted faults."""
