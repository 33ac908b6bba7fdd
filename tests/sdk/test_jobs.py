"""Jobs through the official SDK: create/list/get/update/reset/delete, run_now(...).result()
for a succeeding and a failing run, cancel_run and get_run."""

import base64
from datetime import timedelta

import pytest
from databricks.sdk.errors import InvalidParameterValue, NotFound
from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import ImportFormat, Language

NOTEBOOK = "/Shared/sdk-jobs/etl"


@pytest.fixture(scope="module", autouse=True)
def notebook(w):
    w.workspace.mkdirs("/Shared/sdk-jobs")
    w.workspace.import_(
        NOTEBOOK,
        content=base64.b64encode(b"print('etl')").decode(),
        format=ImportFormat.SOURCE,
        language=Language.PYTHON,
    )


def nb_task(key, path=NOTEBOOK, depends_on=()):
    return jobs.Task(
        task_key=key,
        notebook_task=jobs.NotebookTask(notebook_path=path),
        existing_cluster_id="0123-456789-abcdefgh",
        depends_on=[jobs.TaskDependency(task_key=d) for d in depends_on],
    )


def test_create_get_list_delete(w):
    created = w.jobs.create(
        name="sdk-crud", tasks=[nb_task("a")], tags={"team": "data"}, max_concurrent_runs=2
    )
    job = w.jobs.get(created.job_id)
    assert job.settings.name == "sdk-crud"
    assert job.settings.tags == {"team": "data"}
    assert job.settings.max_concurrent_runs == 2
    assert [t.task_key for t in job.settings.tasks] == ["a"]
    assert job.creator_user_name
    listed = [j.job_id for j in w.jobs.list(name="SDK-CRUD")]
    assert listed == [created.job_id]
    w.jobs.delete(created.job_id)
    # The SDK maps "Job <id> does not exist." to its not-found class.
    with pytest.raises(NotFound):
        w.jobs.get(created.job_id)


def test_list_pages_through_every_job(w):
    ids = {w.jobs.create(name=f"sdk-page-{i}").job_id for i in range(7)}
    seen = [j.job_id for j in w.jobs.list(limit=3)]
    assert ids <= set(seen)
    assert len(seen) == len(set(seen))
    expanded = [j for j in w.jobs.list(expand_tasks=True, name="sdk-page-0")]
    assert len(expanded) == 1


def test_update_merges_tasks_and_removes_fields(w):
    job_id = w.jobs.create(
        name="sdk-update", description="old", tasks=[nb_task("a"), nb_task("b"), nb_task("c")]
    ).job_id
    w.jobs.update(
        job_id,
        new_settings=jobs.JobSettings(tasks=[nb_task("b", path="/Shared/elsewhere"), nb_task("d")]),
        fields_to_remove=["description", "tasks/c"],
    )
    settings = w.jobs.get(job_id).settings
    assert [t.task_key for t in settings.tasks] == ["a", "b", "d"]
    assert settings.tasks[1].notebook_task.notebook_path == "/Shared/elsewhere"
    assert settings.description is None
    assert settings.name == "sdk-update"


def test_reset_replaces_all_settings(w):
    job_id = w.jobs.create(name="sdk-reset", tags={"a": "1"}, tasks=[nb_task("a")]).job_id
    w.jobs.reset(job_id, new_settings=jobs.JobSettings(name="sdk-reset-2", tasks=[nb_task("z")]))
    settings = w.jobs.get(job_id).settings
    assert settings.name == "sdk-reset-2"
    assert settings.tags is None
    assert [t.task_key for t in settings.tasks] == ["z"]


def test_run_now_result_succeeds(w):
    job_id = w.jobs.create(
        name="sdk-run",
        tasks=[nb_task("a"), nb_task("b", depends_on=["a"])],
        parameters=[jobs.JobParameterDefinition(name="day", default="mon")],
    ).job_id
    run = w.jobs.run_now(job_id, job_parameters={"day": "tue"}).result(
        timeout=timedelta(minutes=2)
    )
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.status.state == jobs.RunLifecycleStateV2State.TERMINATED
    assert [t.state.result_state for t in run.tasks] == [jobs.RunResultState.SUCCESS] * 2
    assert [(p.name, p.value) for p in run.job_parameters] == [("day", "tue")]
    again = w.jobs.get_run(run.run_id)
    assert again.run_id == run.run_id
    assert again.job_id == job_id
    listed = [r.run_id for r in w.jobs.list_runs(job_id=job_id, completed_only=True)]
    assert listed == [run.run_id]


def test_missing_notebook_fails_the_run(w):
    job_id = w.jobs.create(name="sdk-fail", tasks=[nb_task("a", path="/Shared/sdk-jobs/missing")]).job_id
    run = w.jobs.run_now(job_id).result(timeout=timedelta(minutes=2))
    # A failed run still ends in TERMINATED: the result state says it failed.
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == jobs.RunResultState.FAILED
    assert "Unable to access the notebook" in run.state.state_message
    output = w.jobs.get_run_output(run.tasks[0].run_id)
    assert "Unable to access the notebook" in output.error
    assert run.status.termination_details.code == jobs.TerminationCodeCode.RUN_EXECUTION_ERROR


def test_idempotent_run_now(w):
    job_id = w.jobs.create(name="sdk-idem", tasks=[nb_task("a")], max_concurrent_runs=5).job_id
    first = w.jobs.run_now(job_id, idempotency_token="sdk-token-1").response.run_id
    second = w.jobs.run_now(job_id, idempotency_token="sdk-token-1").response.run_id
    assert first == second


def test_cancel_run(w):
    # A chain of tasks keeps the run busy for seconds at the default task duration.
    chain = [nb_task("t0")] + [nb_task(f"t{i}", depends_on=[f"t{i - 1}"]) for i in range(1, 40)]
    job_id = w.jobs.create(name="sdk-cancel", tasks=chain).job_id
    run_id = w.jobs.run_now(job_id).response.run_id
    assert w.jobs.get_run(run_id).state.life_cycle_state in (
        jobs.RunLifeCycleState.PENDING,
        jobs.RunLifeCycleState.RUNNING,
    )
    run = w.jobs.cancel_run(run_id).result(timeout=timedelta(minutes=2))
    assert run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == jobs.RunResultState.CANCELED
    assert w.jobs.get_run(run_id).state.result_state == jobs.RunResultState.CANCELED


def test_submit_one_time_run(w):
    run = w.jobs.submit(
        run_name="sdk-once",
        tasks=[jobs.SubmitTask(task_key="a", notebook_task=jobs.NotebookTask(notebook_path=NOTEBOOK))],
    ).result(timeout=timedelta(minutes=2))
    assert run.run_type == jobs.RunType.SUBMIT_RUN
    assert run.state.result_state == jobs.RunResultState.SUCCESS


def test_unknown_run_and_missing_job_id(w):
    with pytest.raises(NotFound, match="Run 987654 does not exist."):
        w.jobs.get_run(987654)
    with pytest.raises(InvalidParameterValue):
        w.jobs.cancel_run(987654)
