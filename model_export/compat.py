"""What an AOTInductor package is tied to: the platform and the torch version.

Kept apart from aoti_export so that loading a package imports neither robe.ops nor
the exporters.
"""

from __future__ import annotations

import platform
import sys


def platform_tag() -> str:
    return f"{sys.platform}-{platform.machine()}"


def torch_version() -> str:
    """torch's release without the local build tag (2.13.0+cpu -> 2.13.0)."""
    import torch

    return str(torch.__version__).split("+")[0]
