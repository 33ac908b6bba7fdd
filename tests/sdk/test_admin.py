"""The admin API and fault injection, seen from the official SDK."""

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InternalError, Unauthenticated


def test_seed_and_reset(w, emulator):
    seeded = emulator.admin("POST", "/seed")
    assert w.warehouses.get(seeded["warehouse_id"]).state.value == "RUNNING"
    assert w.clusters.get(seeded["cluster_id"]).state.value == "RUNNING"
    emulator.admin("POST", "/reset")
    assert list(w.clusters.list()) == []
    assert list(w.warehouses.list()) == []


def test_settings_patch_is_deep(emulator):
    settings = emulator.admin("PATCH", "/settings", {"clusters": {"start_delay_ms": 50}})
    assert settings["clusters"]["start_delay_ms"] == 50
    assert settings["clusters"]["terminate_delay_ms"] == emulator.admin("GET", "/settings")["clusters"][
        "terminate_delay_ms"
    ]
    emulator.admin("PATCH", "/settings", {"clusters": {"start_delay_ms": None}})


def test_the_sdk_retries_a_rate_limit_and_counters_show_it(w, emulator):
    emulator.admin("POST", "/counters/reset")
    emulator.admin(
        "PATCH",
        "/settings",
        {"faults": {"endpoints": {"/api/2.1/clusters/list": {"rate_limit": {"requests_per_second": 1, "burst": 1}}}}},
    )
    try:
        list(w.clusters.list())
        list(w.clusters.list())  # finds the bucket empty, gets 429 + Retry-After, retries
    finally:
        emulator.admin("PATCH", "/settings", {"faults": {"endpoints": None}})
    counters = emulator.admin("GET", "/counters")
    assert counters["faults"]["rate_limited"] >= 1
    assert counters["statuses"]["429"] >= 1
    assert counters["endpoints"]["GET /api/2.1/clusters/list"] >= 3


def test_500_is_not_retried(w, emulator):
    emulator.admin(
        "PATCH", "/settings", {"faults": {"endpoints": {"/api/2.0/sql/": {"internal_error_probability": 1.0}}}}
    )
    try:
        with pytest.raises(InternalError):
            list(w.warehouses.list())
    finally:
        emulator.admin("PATCH", "/settings", {"faults": {"endpoints": None}})


def test_tokens_added_and_revoked(emulator):
    token = emulator.admin("POST", "/tokens", {"token": "dapi-extra"})["token"]
    other = WorkspaceClient(host=emulator.url, token=token, auth_type="pat")
    assert list(other.clusters.list()) is not None
    emulator.admin("DELETE", "/tokens/dapi-extra")
    with pytest.raises(Unauthenticated):
        list(other.clusters.list())


def test_the_sdk_retries_a_reset_connection(w, emulator):
    import threading
    import time

    emulator.admin("POST", "/counters/reset")
    emulator.admin(
        "PATCH",
        "/settings",
        {"faults": {"endpoints": {"/api/2.0/sql/warehouses": {"connection_reset_probability": 1.0}}}},
    )
    outcome = {}

    def call():
        try:
            outcome["warehouses"] = list(w.warehouses.list())
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = e

    worker = threading.Thread(target=call)
    worker.start()
    try:
        deadline = time.time() + 20
        while emulator.admin("GET", "/counters")["faults"]["connection_reset"] < 1:
            assert time.time() < deadline, "the SDK never reached the emulator"
            time.sleep(0.05)
    finally:
        emulator.admin("PATCH", "/settings", {"faults": {"endpoints": None}})
    worker.join(timeout=30)
    assert "error" not in outcome, outcome.get("error")
    assert isinstance(outcome["warehouses"], list)
    assert emulator.admin("GET", "/counters")["endpoints"]["GET /api/2.0/sql/warehouses"] >= 2
