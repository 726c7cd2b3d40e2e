"""Collectors: bundles of what a node scan needs and sos does not gather, written in sos layout.

Kept free of imports so the command line can show its defaults without loading a collector.
"""

DEFAULT_MAX_LOG_BYTES = 25 * 1024 * 1024  # sos's own default per-file log size
