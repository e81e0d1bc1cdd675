"""Domain errors of artifact export and loading (torch-free).

All are RobeError subclasses, so the command line prints one line for each.
"""

from __future__ import annotations

from robe.errors import RobeError


class ArtifactError(RobeError):
    """An artifact that is missing, damaged, or does not match its manifest."""


class ChecksumError(ArtifactError):
    """A file whose sha256 differs from the manifest's (corrupted or truncated)."""


class MissingFormatError(ArtifactError):
    """A format that was asked for but is not in the artifact."""


class IncompatibleArtifactError(ArtifactError):
    """An artifact this runtime cannot run: another artifact format, platform or torch."""


class ExportError(RobeError):
    """An export that could not be carried out (unsupported model, bad request)."""


class VerifyError(RobeError):
    """Exported formats whose scores or hash indices differ from the eager model."""
