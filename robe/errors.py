"""Domain errors of the model library. The CLI turns each into one line on stderr."""

from __future__ import annotations


class RobeError(Exception):
    """A user-facing error: bad input, a resource that will not fit, a damaged file."""


class DataError(RobeError):
    """Malformed input data; the message names the file and line."""


class ResourceError(RobeError):
    """The machine cannot hold what was asked for (memory, disk)."""


class CheckpointError(RobeError):
    """A checkpoint that is missing, damaged or from an incompatible version."""
