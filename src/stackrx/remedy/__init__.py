"""Prescriptions: a plan per finding (steps marked SAFE or DESTRUCTIVE with exact commands), applied on
request to the live host or a test root, every change logged with its undo."""
