"""Exceptions that the engine turns into results instead of tracebacks."""

from __future__ import annotations


class MissingEvidence(Exception):
    """The evidence a check needs was not collected; the check becomes `skipped` naming it."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class NotApplicable(Exception):
    """The check does not apply to this host (e.g. OVN check on an ML2/OVS node): `skipped`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ParseError(Exception):
    """A file or command output could not be understood; the check becomes `error` naming the source."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class UsageError(Exception):
    """Bad input from the operator (missing target, bad option): exit code 1 with a one-line reason."""
