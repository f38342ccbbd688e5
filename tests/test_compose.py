"""docker-compose.yml and qdrant/*.yaml, checked as data (no Docker engine runs in CI)."""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER_NODES = ("qdrant-node1", "qdrant-node2", "qdrant-node3")
FIRST_PEER = "http://qdrant-node1:6335"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def resolve_defaults(text: str) -> str:
    """What Compose substitutes with no variables set: ${VAR:-default} -> default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_services_and_profiles(compose):
    services = compose["services"]
    assert set(services) == {"qdrant", *CLUSTER_NODES}
    assert "profiles" not in services["qdrant"]                 # `docker compose up` starts one node
    for node in CLUSTER_NODES:
        assert services[node]["profiles"] == ["cluster"]


def test_one_pinned_image_new_enough_for_collection_metadata(compose):
    images = {svc["image"] for svc in compose["services"].values()}
    assert len(images) == 1, images
    match = re.fullmatch(r"qdrant/qdrant:v(\d+)\.(\d+)\.(\d+)", images.pop())
    assert match, "pin an exact qdrant/qdrant:vX.Y.Z tag, never latest"
    assert tuple(map(int, match.groups())) >= (1, 16, 0)        # the store keeps the model identity there


def test_ports_published_on_localhost_only_by_default(compose):
    published = []
    for name, svc in compose["services"].items():
        for mapping in svc.get("ports", []):
            host_ip, host_port, container_port = resolve_defaults(str(mapping)).split(":")
            assert host_ip == "127.0.0.1", (name, mapping)
            published.append(int(host_port))
            assert container_port in ("6333", "6334")            # p2p 6335 stays inside the network
    assert len(published) == len(set(published)), "two services publish the same host port"
    assert 6333 in published


def test_storage_volumes_and_config_mounts(compose):
    declared = set(compose["volumes"])
    for name, svc in compose["services"].items():
        mounts = [str(v).split(":") for v in svc["volumes"]]
        storage = [m for m in mounts if m[1] == "/qdrant/storage"]
        assert len(storage) == 1 and storage[0][0] in declared, name
        config = [m for m in mounts if m[1] == "/qdrant/config/local.yaml"]
        assert len(config) == 1 and config[0][2] == "ro", name
        expected = "./qdrant/cluster.yaml" if name in CLUSTER_NODES else "./qdrant/config.yaml"
        assert config[0][0] == expected
    storages = [str(v).split(":")[0] for s in compose["services"].values() for v in s["volumes"]
                if str(v).endswith(":/qdrant/storage")]
    assert len(storages) == len(set(storages)), "each node needs its own storage volume"


def test_api_key_comes_from_environment(compose):
    for name, svc in compose["services"].items():
        key = svc["environment"]["QDRANT__SERVICE__API_KEY"]
        assert key.startswith("${QDRANT_API_KEY"), name       # never a literal secret in the file
        assert ":?" in key                                      # compose refuses to start without one


def test_healthchecks_probe_readiness(compose):
    for name, svc in compose["services"].items():
        check = svc["healthcheck"]
        assert check["test"][0] == "CMD" and "/readyz" in " ".join(check["test"]), name
        assert check["retries"] >= 1 and check["interval"].endswith("s")


def test_cluster_bootstrap(compose):
    services = compose["services"]
    for node in CLUSTER_NODES:
        svc = services[node]
        assert svc["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        command = svc["command"]
        assert command[0] == "./qdrant"
        assert command[command.index("--uri") + 1] == f"http://{node}:6335"
        if node == "qdrant-node1":
            assert "--bootstrap" not in command
        else:
            assert command[command.index("--bootstrap") + 1] == FIRST_PEER
            assert svc["depends_on"]["qdrant-node1"]["condition"] == "service_healthy"
    assert "QDRANT__CLUSTER__ENABLED" not in services["qdrant"]["environment"]


def test_qdrant_config_files():
    single = yaml.safe_load((REPO / "qdrant" / "config.yaml").read_text())
    cluster = yaml.safe_load((REPO / "qdrant" / "cluster.yaml").read_text())
    assert single["service"]["http_port"] == cluster["service"]["http_port"] == 6333
    assert "cluster" not in single
    assert cluster["cluster"]["enabled"] is True and cluster["cluster"]["p2p"]["port"] == 6335
    assert single["telemetry_disabled"] is True and cluster["telemetry_disabled"] is True
