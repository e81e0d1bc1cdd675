"""docker-compose.yml and the files it mounts agree with each other and with the image:
service names, ports, mounts, profiles, the datasource the dashboard names."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.container import DOCKERFILE, REPO
from tests.deploy.dockerfile import parse, stage

COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
GRAFANA = REPO / "deploy/grafana"
SERVE = parse(DOCKERFILE)[-1]


def mounts(service: str) -> dict[str, str]:
    """Container path -> host path (relative to the repository) of the bind mounts."""
    out = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = source[2:]
    return out


def published(service: str) -> dict[int, int]:
    """Container port -> host port."""
    pairs = (p.split(":") for p in SERVICES[service].get("ports", []))
    return {int(container): int(host) for host, container in pairs}


def test_services_and_profiles() -> None:
    profiles = {name: s.get("profiles", []) for name, s in SERVICES.items()}
    assert profiles == {
        "robe": [],
        "robe-gpu": ["gpu"],
        "prometheus": [],
        "grafana": [],
        "locust": ["loadtest"],
    }
    devices = SERVICES["robe-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert SERVICES["robe-gpu"]["build"]["args"]["VARIANT"] == "cuda"
    assert SERVICES["robe"]["build"]["args"]["VARIANT"] == "cpu"


def test_robe_serves_what_the_image_serves_on_its_port() -> None:
    port = int(SERVE.env()["ROBE_PORT"])
    assert SERVE.last("EXPOSE").args == str(port)
    for name in ("robe", "robe-gpu"):
        assert SERVICES[name]["command"] == SERVE.last("CMD").exec_form()
        assert port in published(name)


def test_bind_mounts_exist_in_the_repository() -> None:
    for name in SERVICES:
        for target, source in mounts(name).items():
            assert (REPO / source).exists(), f"{name}: {source} -> {target} is missing"


def test_prometheus_scrapes_the_compose_services() -> None:
    config_mount = mounts("prometheus")["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load((REPO / config_mount).read_text())
    port = int(SERVE.env()["ROBE_PORT"])
    targets = {
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    assert targets == {f"robe:{port}", f"robe-gpu:{port}"}
    assert all(t.split(":")[0] in SERVICES for t in targets)


def test_prometheus_config_passes_promtool() -> None:
    done = subprocess.run(
        ["promtool", "check", "config", str(REPO / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _datasource_uids(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["uid"]} if node.get("type") == "prometheus" and "uid" in node else set()
        return found.union(*(_datasource_uids(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_datasource_uids(v) for v in node))
    return set()


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard() -> None:
    provisioning = REPO / mounts("grafana")["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == f"http://prometheus:{next(iter(published('prometheus')))}"
    (provider,) = yaml.safe_load((provisioning / "dashboards/robe-serve.yml").read_text())[
        "providers"
    ]
    dashboards = REPO / mounts("grafana")[provider["options"]["path"]]
    (dashboard_file,) = dashboards.glob("*.json")
    dashboard = json.loads(dashboard_file.read_text())
    assert _datasource_uids(dashboard) == {source["uid"]}
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{dashboard_file.name}"


def test_locust_runs_the_repository_locustfile_against_robe() -> None:
    """The Dockerfile's locust stage, with the repository's locustfile, aimed at robe."""
    locust_stage = stage(parse(DOCKERFILE), SERVICES["locust"]["build"]["target"])
    entrypoint = locust_stage.last("ENTRYPOINT").exec_form()
    assert entrypoint[:2] == ["locust", "-f"]
    workdir, copied = Path("/"), {}
    for ins in locust_stage.instructions:  # image path -> repository path of each COPY
        if ins.keyword == "WORKDIR":
            workdir = Path(ins.args)
        elif ins.keyword == "COPY":
            *sources, dest = ins.args.split()
            for src in sources:  # Docker: a folder's contents land at DEST, or in DEST/
                image_path = (
                    workdir / dest / Path(src).name if dest.endswith("/") else workdir / dest
                )
                copied[image_path] = src
    locustfile = workdir / entrypoint[2]
    assert (REPO / copied[locustfile.parent] / locustfile.name).is_file()
    command = SERVICES["locust"]["command"]
    assert command == locust_stage.last("CMD").exec_form()
    assert command[command.index("--host") + 1] == f"http://robe:{SERVE.env()['ROBE_PORT']}"
    assert int(command[command.index("--web-port") + 1]) in published("locust")


def test_docs_name_every_published_port() -> None:
    docs = (REPO / "docs/deploy.md").read_text()
    for name in SERVICES:
        for host_port in published(name).values():
            assert f":{host_port}" in docs, f"docs/deploy.md does not give {name}'s port"
