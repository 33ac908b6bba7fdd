"""The official SDK's side of the wire-fidelity test (crates/connector/tests/wire_fidelity.rs).

Usage: sdk_calls.py URL TOKEN. Announces each case with `POST URL/__case/<name>` to the
recording proxy, then makes the one SDK call that is the twin of the brickwire action of the
same name, with the same fixed inputs and in the same order as the Rust side. Prints nothing;
exits non-zero only when the SDK itself could not run. A call the workspace refuses (for
instance starting a cluster that is already running) is fine: the request was recorded.
"""

import sys
import urllib.request

from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError
from databricks.sdk.service import catalog, compute, iam, jobs, workspace

URL, TOKEN = sys.argv[1], sys.argv[2]
w = WorkspaceClient(host=URL, token=TOKEN)
ctx = {}

HOME = "/Users/ada@example.com"
# brickwire always sends the core schema URN that SCIM (RFC 7643) requires on a user or group
# it creates or replaces; an SDK user passes it explicitly, so the twin calls do too.
USER = [iam.UserSchema.URN_IETF_PARAMS_SCIM_SCHEMAS_CORE_2_0_USER]
GROUP = [iam.GroupSchema.URN_IETF_PARAMS_SCIM_SCHEMAS_CORE_2_0_GROUP]
CASES = []


def case(name):
    def register(fn):
        CASES.append((name, fn))
        return fn

    return register


@case("create-warehouse")
def _():
    r = w.warehouses.create(name="wf-wh", cluster_size="Small", auto_stop_mins=20, max_num_clusters=1)
    ctx["warehouse_id"] = r.response.id


case("query-warehouses")(lambda: list(w.warehouses.list()))
case("retrieve-warehouse")(lambda: w.warehouses.get(ctx["warehouse_id"]))
case("update-warehouse")(lambda: w.warehouses.edit(ctx["warehouse_id"], auto_stop_mins=30))
case("start-warehouse")(lambda: w.warehouses.start(ctx["warehouse_id"]))

case("create-catalog")(lambda: w.catalogs.create("wf_cat", comment="wire"))
case("query-catalogs")(lambda: list(w.catalogs.list()))
case("retrieve-catalog")(lambda: w.catalogs.get("wf_cat"))
case("update-catalog")(lambda: w.catalogs.update("wf_cat", comment="wire 2"))
case("create-schema")(lambda: w.schemas.create("wf_s", "wf_cat", comment="wire"))
case("query-schemas")(lambda: list(w.schemas.list("wf_cat")))
case("retrieve-schema")(lambda: w.schemas.get("wf_cat.wf_s"))
case("update-schema")(lambda: w.schemas.update("wf_cat.wf_s", comment="wire 2"))
case("create-volume")(lambda: w.volumes.create("wf_cat", "wf_s", "wf_v", catalog.VolumeType.MANAGED))
case("query-volumes")(lambda: list(w.volumes.list("wf_cat", "wf_s")))
case("retrieve-volume")(lambda: w.volumes.read("wf_cat.wf_s.wf_v"))
case("update-volume")(lambda: w.volumes.update("wf_cat.wf_s.wf_v", comment="wire 2"))


@case("execute-statement")
def _():
    r = w.statement_execution.execute_statement(
        "CREATE TABLE wf_cat.wf_s.t (a INT)", ctx["warehouse_id"], wait_timeout="10s"
    )
    ctx["statement_id"] = r.statement_id


case("retrieve-statement")(lambda: w.statement_execution.get_statement(ctx["statement_id"]))
case("retrieve-statement-result-chunk")(
    lambda: w.statement_execution.get_statement_result_chunk_n(ctx["statement_id"], 0)
)
case("cancel-statement-execution")(lambda: w.statement_execution.cancel_execution(ctx["statement_id"]))
case("query-tables")(lambda: list(w.tables.list("wf_cat", "wf_s")))
case("retrieve-table")(lambda: w.tables.get("wf_cat.wf_s.t"))
case("check-table-exists")(lambda: w.tables.exists("wf_cat.wf_s.t"))
case("query-table-summaries")(lambda: list(w.tables.list_summaries("wf_cat")))
case("delete-table")(lambda: w.tables.delete("wf_cat.wf_s.t"))
case("delete-volume")(lambda: w.volumes.delete("wf_cat.wf_s.wf_v"))
case("delete-schema")(lambda: w.schemas.delete("wf_cat.wf_s"))
case("delete-catalog")(lambda: w.catalogs.delete("wf_cat", force=True))
case("stop-warehouse")(lambda: w.warehouses.stop(ctx["warehouse_id"]))
case("delete-warehouse")(lambda: w.warehouses.delete(ctx["warehouse_id"]))


@case("create-cluster")
def _():
    r = w.clusters.create(
        spark_version="15.4.x-scala2.12",
        cluster_name="wf",
        node_type_id="i3.xlarge",
        num_workers=1,
        autotermination_minutes=60,
    )
    ctx["cluster_id"] = r.response.cluster_id


case("list-clusters")(lambda: list(w.clusters.list()))
case("get-cluster-info")(lambda: w.clusters.get(ctx["cluster_id"]))
case("query-clusters")(
    lambda: list(
        w.clusters.list(
            filter_by=compute.ListClustersFilterBy(
                cluster_states=[compute.State.RUNNING, compute.State.PENDING]
            ),
            sort_by=compute.ListClustersSortBy(
                direction=compute.ListClustersSortByDirection.ASC,
                field=compute.ListClustersSortByField.CLUSTER_NAME,
            ),
        )
    )
)
case("restart-cluster")(lambda: w.clusters.restart(ctx["cluster_id"]))
case("terminate-cluster")(lambda: w.clusters.delete(ctx["cluster_id"]))
case("start-cluster")(lambda: w.clusters.start(ctx["cluster_id"]))
case("delete-cluster")(lambda: w.clusters.permanent_delete(ctx["cluster_id"]))


@case("create-job")
def _():
    r = w.jobs.create(
        name="wf-job",
        tasks=[
            jobs.Task.from_dict(
                {
                    "task_key": "main",
                    "notebook_task": {"notebook_path": "/Users/a/etl"},
                    "existing_cluster_id": "0123-456789-abcdefgh",
                }
            )
        ],
    )
    ctx["job_id"] = r.job_id


case("query-jobs")(lambda: list(w.jobs.list(name="wf-job")))
case("show-job")(lambda: w.jobs.get(ctx["job_id"]))
case("update-job")(
    lambda: w.jobs.update(
        ctx["job_id"], new_settings=jobs.JobSettings(max_concurrent_runs=2), fields_to_remove=["tags"]
    )
)
case("update-job/reset")(
    lambda: w.jobs.reset(ctx["job_id"], jobs.JobSettings(name="wf-job-2", max_concurrent_runs=1))
)


@case("run-job")
def _():
    r = w.jobs.run_now(ctx["job_id"], job_parameters={"d": "1"})
    ctx["run_id"] = r.response.run_id


case("get-job-run")(lambda: w.jobs.get_run(ctx["run_id"]))
case("cancel-run")(lambda: w.jobs.cancel_run(ctx["run_id"]))
case("delete-job")(lambda: w.jobs.delete(ctx["job_id"]))


@case("create-user")
def _():
    ctx["user_id"] = w.users.create(user_name="ada@example.com", display_name="Ada", schemas=USER).id


case("list-users")(lambda: list(w.users.list(filter='userName sw "ada"')))
case("get-user")(lambda: w.users.get(ctx["user_id"]))
case("update-user")(
    lambda: w.users.patch(
        ctx["user_id"],
        operations=[
            iam.Patch(op=iam.PatchOp.ADD, path="entitlements", value=[{"value": "databricks-sql-access"}])
        ],
        schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP],
    )
)
case("update-user/replace")(
    lambda: w.users.update(ctx["user_id"], user_name="ada@example.com", display_name="Ada L", schemas=USER)
)


@case("create-group")
def _():
    ctx["group_id"] = w.groups.create(
        display_name="wf-g", members=[iam.ComplexValue(value=ctx["user_id"])], schemas=GROUP
    ).id


case("list-groups")(lambda: list(w.groups.list(filter='displayName eq "wf-g"')))
case("update-group")(
    lambda: w.groups.patch(
        ctx["group_id"],
        operations=[iam.Patch(op=iam.PatchOp.REPLACE, path="displayName", value="wf-g2")],
        schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP],
    )
)
case("update-group/replace")(lambda: w.groups.update(ctx["group_id"], display_name="wf-g3", schemas=GROUP))
case("delete-group")(lambda: w.groups.delete(ctx["group_id"]))
case("delete-user")(lambda: w.users.delete(ctx["user_id"]))

case("create-directory")(lambda: w.workspace.mkdirs(f"{HOME}/wf"))
case("import-workspace")(
    lambda: w.workspace.import_(
        f"{HOME}/wf/nb",
        content="cHJpbnQoMSk=",
        format=workspace.ImportFormat.SOURCE,
        language=workspace.Language.PYTHON,
        overwrite=True,
    )
)
case("export-workspace")(lambda: w.workspace.export(f"{HOME}/wf/nb", format=workspace.ExportFormat.SOURCE))
case("list-workspace")(lambda: list(w.workspace.list(f"{HOME}/wf")))
case("retrieve-object-status")(lambda: w.workspace.get_status(f"{HOME}/wf/nb"))
case("query-directories")(lambda: list(w.workspace.list(HOME, recursive=True)))
case("delete-workspace")(lambda: w.workspace.delete(f"{HOME}/wf", recursive=True))

case("http-request")(lambda: w.api_client.do("GET", "/api/2.1/clusters/list", query={"page_size": 10}))


def announce(name):
    urllib.request.urlopen(urllib.request.Request(f"{URL}/__case/{name}", method="POST")).read()


for name, fn in CASES:
    announce(name)
    try:
        fn()
    except DatabricksError:
        pass
announce("_end")
