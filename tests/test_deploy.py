"""deploy/: the compose file (Redis, three replicas, nginx in front) and the Kubernetes
example, held to each other, to the Dockerfile and to README.md; no engine or cluster
needed. The nginx configuration is also run for real (Debian's nginx) in front of three
`mockserver serve` instances on one Redis (Debian's nginx: `.ci/run` installs it; a
missing one fails the test, never skips it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from mockserver.cli import _state_url
from tests.conftest import ROOT, LiveServer
from tests.redis_server import RedisServer, free_port, redis_server
from tests.test_state_redis_instances import listing, start_instances, stop_all

__all__ = ["redis_server"]  # a fixture, used by name below

DEPLOY = ROOT / "deploy"
PORT = 4010
HEALTH = "/__mock/health"
MOCKS = ("mock-1", "mock-2", "mock-3")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    return loaded


def manifests() -> list[dict[str, Any]]:
    text = (DEPLOY / "kubernetes.yaml").read_text("utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def readme_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text("utf-8")
    return set(re.findall(r"^\| `(MOCKSERVER_[A-Z_]+)`", readme, re.MULTILINE))


def upstreams(conf: str) -> list[str]:
    block = re.search(r"upstream\s+mockserver\s*\{([^}]*)\}", conf)
    assert block, "nginx.conf has an upstream named mockserver"
    return re.findall(r"^\s*server\s+(\S+?)[\s;]", block.group(1), re.MULTILINE)


# -- compose ----------------------------------------------------------------------------------
def test_compose_has_redis_three_replicas_and_a_balancer_on_4010() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", *MOCKS, "balancer"}
    assert services["balancer"]["ports"] == [f"{PORT}:{PORT}"]
    for name in MOCKS:
        mock = services[name]
        assert (DEPLOY / mock["build"] / "Dockerfile").is_file()  # the repository's image
        state = mock["environment"]["MOCKSERVER_STATE"]
        assert _state_url(state) == state
        where = urlsplit(state)
        assert where.hostname == "redis" and where.port == 6379  # Redis' own default port
        assert "--port" not in services["redis"]["command"]
        assert mock["depends_on"]["redis"]["condition"] == "service_healthy"
        assert set(mock["environment"]) <= readme_variables()
    assert set(services["balancer"]["depends_on"]) == set(MOCKS)


def test_compose_replicas_use_the_root_compose_files_health_check() -> None:
    root = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    check = root["services"]["mockserver"]["healthcheck"]["test"]
    for name in MOCKS:
        assert compose()["services"][name]["healthcheck"]["test"] == check
        assert f"127.0.0.1:{PORT}{HEALTH}" in check[-1]


def test_nginx_balances_over_exactly_the_three_replicas() -> None:
    conf = (DEPLOY / "nginx.conf").read_text("utf-8")
    balancer = compose()["services"]["balancer"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in balancer["volumes"]
    assert upstreams(conf) == [f"{name}:{PORT}" for name in MOCKS]
    assert re.search(rf"^\s*listen\s+{PORT};", conf, re.MULTILINE)
    assert "proxy_pass http://mockserver;" in conf
    assert "proxy_next_upstream off;" in conf  # a retry would be journaled twice
    assert conf.count("{") == conf.count("}")


# -- kubernetes -----------------------------------------------------------------------------
def kind(name: str, kind: str) -> dict[str, Any]:
    found = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} {name}"
    return found[0]


def test_kubernetes_services_select_their_deployments() -> None:
    for name in ("mockserver", "mockserver-redis"):
        deployment, service = kind(name, "Deployment"), kind(name, "Service")
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert service["spec"]["selector"].items() <= labels.items()
        ports = {
            port["name"]: port["containerPort"]
            for container in deployment["spec"]["template"]["spec"]["containers"]
            for port in container["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports


def test_kubernetes_mock_has_replicas_probes_and_the_redis_service_as_state() -> None:
    deployment = kind("mockserver", "Deployment")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["enableServiceLinks"] is False  # else MOCKSERVER_PORT=tcp://... breaks serve
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    (container,) = pod["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == HEALTH and ports[get["port"]] == PORT
    env = {item["name"]: item["value"] for item in container["env"]}
    assert set(env) <= readme_variables()
    where = urlsplit(_state_url(env["MOCKSERVER_STATE"]))
    redis_service = kind("mockserver-redis", "Service")
    assert where.hostname == redis_service["metadata"]["name"]
    assert where.port in [port["port"] for port in redis_service["spec"]["ports"]]


# -- the nginx configuration, run for real ------------------------------------------------------
@pytest.fixture
def balancer(redis_server: RedisServer) -> Iterator[tuple[str, list[LiveServer]]]:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.fail(
            "nginx is not installed: `sudo apt-get install nginx-light` (.ci/run "
            "installs it): deploy/nginx.conf is run for real"
        )
    servers = start_instances(3, "--state", redis_server.url.replace("/0", "/3"), "--workers", "1")
    port = free_port()
    conf = (DEPLOY / "nginx.conf").read_text("utf-8")
    for name, server in zip(MOCKS, servers, strict=True):
        conf = conf.replace(f"{name}:{PORT}", urlsplit(server.url).netloc)
    conf = conf.replace(f"listen {PORT};", f"listen 127.0.0.1:{port};")
    with tempfile.TemporaryDirectory(prefix="mockserver-nginx-") as folder:
        path = Path(folder) / "nginx.conf"
        for temp in ("client_body", "proxy"):  # nginx-light writes there, not in /var/lib
            conf = conf.replace("http {", f"http {{\n    {temp}_temp_path {folder}/{temp};", 1)
        path.write_text(f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n" + conf)
        checked = subprocess.run(
            [nginx, "-t", "-p", folder, "-c", str(path)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        process = subprocess.Popen([nginx, "-p", folder, "-c", str(path), "-g", "daemon off;"])
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 15
            while True:  # a real request through nginx, until one is answered
                try:
                    if requests.get(url + HEALTH, timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
            yield url, servers
        finally:
            process.terminate()
            process.wait(timeout=10)
            stop_all(servers)


def test_three_replicas_behind_nginx_answer_as_one_mock(
    balancer: tuple[str, list[LiveServer]],
) -> None:
    url, servers = balancer
    document = '{"scenarios": [{"name": "twice", "match": {"operationId": "queryEvents"}, "times": 2, "respond": {"status": 400}}]}'  # noqa: E501
    put = requests.put(f"{url}/__mock/scenarios?session=lb", data=document, timeout=30)
    assert put.status_code == 200
    with requests.Session() as http:
        statuses = [
            http.get(f"{url}/api/v1/events/query/", headers={"X-Mock-Session": "lb"}).status_code
            for _ in range(30)
        ]
    assert statuses.count(400) == 2 and statuses.count(200) == 28
    for server in servers:  # any replica lists every request the balancer passed on
        assert len(listing(server, "lb")["requests"]) == 30
