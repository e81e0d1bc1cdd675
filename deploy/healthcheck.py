"""The image's HEALTHCHECK: exit 0 when GET /healthz on this container answers 200.

Python's standard library only: the slim image has no curl, and the check must not
import the service (a health check that loads onnxruntime would cost more than the
request it makes). The port is the service's own setting, ROBE_PORT.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def healthy(port: int, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout_s) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy(int(os.environ.get("ROBE_PORT", "8000"))) else 1)
