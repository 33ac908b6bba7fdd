"""SQL warehouses through the official SDK: waiters, edit, list, delete, validation."""

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound
from databricks.sdk.service.sql import State


def test_create_edit_stop_start_delete(w):
    created = w.warehouses.create_and_wait(
        name="sdk-warehouse", cluster_size="2X-Small", max_num_clusters=2, auto_stop_mins=10
    )
    assert created.state == State.RUNNING
    assert created.odbc_params.path == f"/sql/1.0/warehouses/{created.id}"
    assert created.jdbc_url.startswith("jdbc:spark://")

    w.warehouses.edit(created.id, name="sdk-warehouse-2", cluster_size="Small", max_num_clusters=2)
    got = w.warehouses.get(created.id)
    assert (got.name, got.cluster_size) == ("sdk-warehouse-2", "Small")

    stopped = w.warehouses.stop_and_wait(created.id)
    assert stopped.state == State.STOPPED
    assert stopped.num_clusters == 0
    started = w.warehouses.start_and_wait(created.id)
    assert started.state == State.RUNNING

    assert created.id in [wh.id for wh in w.warehouses.list()]
    w.warehouses.delete(created.id)
    assert created.id not in [wh.id for wh in w.warehouses.list()]


def test_list_follows_pages(w):
    ids = {w.warehouses.create(name=f"sdk-page-{i}", cluster_size="X-Small").response.id for i in range(3)}
    listed = [wh.id for wh in w.warehouses.list(page_size=1)]
    assert ids <= set(listed)
    assert len(listed) == len(set(listed))


def test_validation_and_missing_warehouse(w):
    with pytest.raises(InvalidParameterValue):
        w.warehouses.create(name="bad-size", cluster_size="Gigantic")
    with pytest.raises(InvalidParameterValue):
        w.warehouses.create(name="bad-stop", cluster_size="Small", auto_stop_mins=5)
    with pytest.raises(NotFound):
        w.warehouses.get("0123456789abcdef")
