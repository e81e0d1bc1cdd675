"""deploy/k8s: every kustomization renders and validates offline, and what the manifests
say about the service (probe paths, ports, settings, drain timings, metrics) matches the
service itself: its Settings, its routes and its metrics."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.validate_k8s import K8S, check, kustomizations, render
from service.app import build_app
from service.metrics import Metrics
from service.settings import Settings

ROOT = K8S.parent.parent
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
Obj = dict[str, Any]


def by_kind(objects: list[Obj]) -> dict[str, Obj]:
    out: dict[str, Obj] = {}
    for obj in objects:
        assert obj["kind"] not in out, f"two {obj['kind']} objects"
        out[obj["kind"]] = obj
    return out


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def route_paths(settings: Settings) -> set[str]:
    return {getattr(r, "path", "") for r in build_app(settings).routes}


def image_uid() -> int:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    return int(users[-1].split(":")[0])


def test_every_kustomization_renders_and_validates() -> None:
    paths = kustomizations()
    assert {p.name for p in paths} >= {"cpu", "gpu", "kserve"}
    assert check(paths) == []


def test_validation_refuses_a_misspelt_field(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    bad = tree / "overlays" / "bad"
    bad.mkdir()
    typo_probe = {
        "op": "add",
        "path": "/spec/template/spec/containers/0/livenessProb",
        "value": {"httpGet": {"path": "/healthz", "port": "http"}},
    }
    typo_scrape = {"op": "add", "path": "/spec/podMetricsEndpoints/0/intervall", "value": "15s"}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["../cpu"],
        "patches": [
            {"target": {"kind": "Deployment"}, "patch": yaml.safe_dump([typo_probe])},
            {"target": {"kind": "PodMonitor"}, "patch": yaml.safe_dump([typo_scrape])},
        ],
    }
    (bad / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    found = check([bad])
    assert len(found) == 2, found
    assert "'livenessProb' was unexpected" in found[0]
    assert "'intervall' was unexpected" in found[1]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_match_the_service(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    objs = by_kind(render(K8S / "overlays" / overlay))
    kinds = {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"}
    assert kinds | {"PodDisruptionBudget", "PodMonitor"} <= set(objs)
    env = objs["ConfigMap"]["data"]
    settings = settings_from({k: v for k, v in env.items() if k.startswith("ROBE_")}, monkeypatch)
    routes = route_paths(settings)
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["envFrom"][0]["configMapRef"]["name"] == objs["ConfigMap"]["metadata"]["name"]

    # ports: the one the service listens on, on every interface, named for probes and scrapes
    assert settings.host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.port}
    (svc_port,) = objs["Service"]["spec"]["ports"]
    assert svc_port["targetPort"] in ports
    (endpoint,) = objs["PodMonitor"]["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in ports
    assert endpoint["path"] == "/metrics" in routes

    # probes: started and alive on /healthz, ready on /readyz, all on the service's port
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    probes = {k: container[k]["httpGet"] for k in expected}
    assert {k: p["path"] for k, p in probes.items()} == expected
    assert all(p["path"] in routes and p["port"] in ports for p in probes.values())
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60

    # drain: preStop sleep, then the service's drain, then its admitted requests (each at
    # most request_timeout_s), then closing, all within the grace period
    drain_s = settings.drain_s
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = pod["terminationGracePeriodSeconds"]
    assert pre_stop + drain_s + settings.request_timeout_s + 1 <= grace

    # non-root, as the image's own user
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid()
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    # every served model lies under the models volume, filled by the init container or a PVC
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for _, path in settings.model_paths():
        assert path.startswith(mounts["models"] + "/")
    volumes = {v["name"]: v for v in pod["volumes"]}
    if "persistentVolumeClaim" in volumes["models"]:
        assert "initContainers" not in pod
        assert "PersistentVolumeClaim" in objs
        claim = objs["PersistentVolumeClaim"]["metadata"]["name"]
        assert volumes["models"]["persistentVolumeClaim"]["claimName"] == claim
    else:
        (init,) = pod["initContainers"]
        (init_mount,) = [m for m in init["volumeMounts"] if m["name"] == "models"]
        assert init["command"][-1].startswith(init_mount["mountPath"] + "/")

    # the selectors find the pods
    labels = objs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        objs["Service"]["spec"]["selector"],
        objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        objs["PodMonitor"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector and selector.items() <= labels.items()

    # autoscaling: CPU, and per-pod metrics the service exports, served by the adapter rules
    hpa = objs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == objs["Deployment"]["metadata"]["name"]
    assert hpa["minReplicas"] >= 1 and hpa["maxReplicas"] > hpa["minReplicas"]
    exported = {m.name for m in Metrics().registry.collect()}
    adapter = yaml.safe_load(
        (K8S / "components/queue-autoscaling/prometheus-adapter-values.yaml").read_text()
    )
    served = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    for metric in hpa["metrics"]:
        if metric["type"] == "Pods":
            name = metric["pods"]["metric"]["name"]
            assert name in exported and name in served
    if settings.device == "cuda":
        assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_kserve_runtime_speaks_v2_on_its_port(monkeypatch: pytest.MonkeyPatch) -> None:
    objs = by_kind(render(K8S / "kserve"))
    runtime, isvc = objs["ServingRuntime"]["spec"], objs["InferenceService"]["spec"]
    assert "v2" in runtime["protocolVersions"]
    model = isvc["predictor"]["model"]
    assert model["protocolVersion"] == "v2"
    assert model["runtime"] == objs["ServingRuntime"]["metadata"]["name"]
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["supportedModelFormats"]}
    (container,) = runtime["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    settings = settings_from({k: v for k, v in env.items() if k.startswith("ROBE_")}, monkeypatch)
    assert [p["containerPort"] for p in container["ports"]] == [settings.port]
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] == settings.port
    assert probe["path"] in route_paths(settings)
    assert container["args"] == ["--model", "{{.Name}}=/mnt/models"]
