"""`stackrx fleet`: many nodes at once, and the checks that only make sense across them.

Pipeline: targets (inventories, host lists, directories of sosreports or of per-node JSON results) →
per-node evidence (SSH collection into sosreport-shaped trees, or the trees/tarballs given) → per-node
checks in worker processes (the same `scan_view` a node scan runs) → cross-node checks over the hosts'
`facts["fleet"]` blocks (`stackrx.facts.fleetfacts`) → one `ScanReport`.
"""
