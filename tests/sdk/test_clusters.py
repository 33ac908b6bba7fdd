"""Clusters through the official SDK: waiters, list filters, errors, ensure_cluster_is_running."""

import pytest
from databricks.sdk.errors import InvalidParameterValue, InvalidState, NotFound, ResourceDoesNotExist
from databricks.sdk.service.compute import ListClustersFilterBy, ListClustersSortBy, ListClustersSortByField, State

SPARK = "15.4.x-scala2.12"


def create(w, name, **kwargs):
    return w.clusters.create_and_wait(
        cluster_name=name, spark_version=SPARK, node_type_id="i3.xlarge", num_workers=1, **kwargs
    )


def test_create_and_wait_then_get(w):
    info = create(w, "sdk-create", custom_tags={"team": "data"})
    assert info.state == State.RUNNING
    got = w.clusters.get(info.cluster_id)
    assert got.cluster_name == "sdk-create"
    assert got.custom_tags == {"team": "data"}
    assert got.spark_version == SPARK
    assert got.creator_user_name
    assert got.start_time > 0


def test_list_with_filters_and_sort(w):
    running = create(w, "sdk-list-a")
    stopped = create(w, "sdk-list-b")
    w.clusters.delete_and_wait(stopped.cluster_id)
    ids = [c.cluster_id for c in w.clusters.list()]
    assert running.cluster_id in ids and stopped.cluster_id in ids
    only_running = list(w.clusters.list(filter_by=ListClustersFilterBy(cluster_states=[State.RUNNING])))
    assert all(c.state == State.RUNNING for c in only_running)
    assert stopped.cluster_id not in [c.cluster_id for c in only_running]
    by_name = list(
        w.clusters.list(page_size=1, sort_by=ListClustersSortBy(field=ListClustersSortByField.CLUSTER_NAME))
    )
    names = [c.cluster_name for c in by_name]
    assert names == sorted(names, key=str.lower)
    assert len(by_name) == len(ids), "the SDK followed every page token"


def test_restart_delete_start_and_wait(w):
    info = create(w, "sdk-lifecycle")
    restarted = w.clusters.restart_and_wait(info.cluster_id)
    assert restarted.state == State.RUNNING
    assert restarted.last_restarted_time >= info.last_restarted_time
    terminated = w.clusters.delete_and_wait(info.cluster_id)
    assert terminated.state == State.TERMINATED
    assert terminated.termination_reason.code.value == "USER_REQUEST"
    with pytest.raises(InvalidState):
        w.clusters.restart(info.cluster_id)
    started = w.clusters.start_and_wait(info.cluster_id)
    assert started.state == State.RUNNING
    resized = w.clusters.resize_and_wait(info.cluster_id, num_workers=3)
    assert resized.num_workers == 3


def test_ensure_cluster_is_running(w):
    info = create(w, "sdk-ensure")
    w.clusters.delete_and_wait(info.cluster_id)
    w.clusters.ensure_cluster_is_running(info.cluster_id)
    assert w.clusters.get(info.cluster_id).state == State.RUNNING
    w.clusters.delete(info.cluster_id)  # TERMINATING: it waits, then starts
    w.clusters.ensure_cluster_is_running(info.cluster_id)
    assert w.clusters.get(info.cluster_id).state == State.RUNNING


def test_permanent_delete_then_get_raises_not_found(w):
    info = create(w, "sdk-gone")
    w.clusters.permanent_delete(info.cluster_id)
    with pytest.raises(ResourceDoesNotExist) as caught:
        w.clusters.get(info.cluster_id)
    assert isinstance(caught.value, NotFound)
    assert info.cluster_id not in [c.cluster_id for c in w.clusters.list()]


def test_create_without_spark_version_is_rejected(w):
    with pytest.raises(InvalidParameterValue) as caught:
        w.clusters.create(spark_version="", cluster_name="bad")
    assert "spark_version" in str(caught.value)


def test_select_spark_version_and_node_type(w):
    version = w.clusters.select_spark_version(latest=True, long_term_support=True)
    assert version == "16.4.x-scala2.12"
    node = w.clusters.select_node_type(local_disk=True, min_memory_gb=30)
    assert node == "i3.xlarge"


def test_events_follow_the_lifecycle_across_pages(w):
    from databricks.sdk.service.compute import EventType, GetEventsOrder

    info = create(w, "sdk-events")
    w.clusters.delete_and_wait(info.cluster_id)
    events = list(w.clusters.events(info.cluster_id, order=GetEventsOrder.ASC, limit=1))
    assert [e.type for e in events] == [EventType.CREATING, EventType.RUNNING, EventType.TERMINATING]
    assert events[-1].details.reason.code.value == "USER_REQUEST"
