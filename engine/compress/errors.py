"""Errors of the compress/export verbs: bad input (exit 2) and failed verification (exit 1)."""

from __future__ import annotations


class CompressError(ValueError):
    """Bad input for a compress/export step (a method, a layer, a file): names what and why."""


class VerificationError(RuntimeError):
    """An exported or compressed model does not give the original's answers (exit 1, no silent file)."""
