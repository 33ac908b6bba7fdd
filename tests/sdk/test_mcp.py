"""The MCP server held to the official MCP SDK for Python (`mcp` on PyPI) as the client.

`brickwire mcp` is driven over stdio (the way a desktop agent starts it), and `brickwire serve`'s
`/mcp` over Streamable HTTP with per-account MCP tokens, both against the emulator: tool lists
match the catalog (or the toolset, or its read-only part), one action per group runs, a large
statement result comes back bounded, wrong and revoked tokens get 401, schema failures are tool
errors naming the field, and a job wait outlives several OAuth access tokens.
"""

import asyncio
import base64
import json
import os
import re
import secrets
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from conftest import BIN, TOKEN

API_KEY = "bw-operator-" + secrets.token_urlsafe(24)


def catalog():
    """The action catalog as `brickwire actions -o json` prints it."""
    out = subprocess.run([BIN, "actions", "-o", "json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


CATALOG = catalog()
BY_ID = {a["id"]: a for a in CATALOG}


def run(coro):
    return asyncio.run(coro)


def stdio(emulator, *flags, env=None):
    """Parameters that start `brickwire mcp` on the emulator with `flags`."""
    if env is None:
        args = ["mcp", "--host", emulator.url, "--token", TOKEN, *flags]
        env = {}
    else:
        args = ["mcp", *flags]
    base = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    return StdioServerParameters(command=BIN, args=args, env={**base, **env})


async def tools_of(server):
    async with Client(server) as client:
        return (await client.list_tools()).tools


def text_of(result):
    assert len(result.content) == 1, result
    return result.content[0].text


# ---------------------------------------------------------------------------------------------
# stdio


def test_every_action_is_a_tool_with_annotations_from_the_catalog(emulator):
    tools = run(tools_of(stdio(emulator)))
    assert [t.name for t in tools] == [a["id"] for a in CATALOG]
    for tool in tools:
        action = BY_ID[tool.name]
        assert tool.title == action["title"]
        assert tool.description == action["description"]
        schema = {k: v for k, v in action["input_schema"].items() if k not in ("$schema", "title")}
        assert tool.input_schema == schema
        hints = tool.annotations
        assert hints.read_only_hint is action["read_only"], tool.name
        assert hints.destructive_hint is action["destructive"], tool.name
        assert hints.idempotent_hint is action["retry_safe"], tool.name


def test_toolsets_and_read_only_narrow_the_tools(emulator):
    sql = run(tools_of(stdio(emulator, "--toolset", "sql,warehouses")))
    expected = [a["id"] for a in CATALOG if a["group"] in ("SQL", "Warehouses")]
    assert [t.name for t in sql] == expected and expected

    read_only = run(tools_of(stdio(emulator, "--read-only")))
    expected = [a["id"] for a in CATALOG if a["read_only"]]
    assert [t.name for t in read_only] == expected
    assert all(t.annotations.read_only_hint for t in read_only)
    mutating = {a["id"] for a in CATALOG if not a["read_only"]}
    assert mutating and not mutating & {t.name for t in read_only}
    for gone in ("delete-cluster", "execute-statement", "http-request", "create-catalog"):
        assert gone in mutating

    both = run(tools_of(stdio(emulator, "--toolset", "clusters", "--read-only")))
    assert {t.name for t in both} == {
        a["id"] for a in CATALOG if a["group"] == "Clusters" and a["read_only"]
    }


def test_a_bad_toolset_is_refused_at_start(emulator):
    out = subprocess.run(
        [BIN, "mcp", "--host", emulator.url, "--token", TOKEN, "--toolset", "sql,nope"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert out.returncode == 2
    assert "`nope`" in out.stderr and "warehouses" in out.stderr


def test_one_action_per_group_runs_over_stdio(emulator, warehouse_id):
    emulator.admin("POST", "/seed", {})
    suffix = secrets.token_hex(3)

    async def go():
        async with Client(stdio(emulator)) as c:

            async def ok(name, arguments):
                result = await c.call_tool(name, arguments)
                assert not result.is_error, (name, text_of(result))
                return text_of(result)

            async def ok_json(name, arguments):
                return json.loads(await ok(name, arguments))

            catalogs = await ok_json("query-catalogs", {})
            assert any(cat["name"] == "main" for cat in catalogs["catalogs"])
            cluster = await ok_json(
                "create-cluster",
                {"cluster_name": f"mcp-{suffix}", "spark_version": "15.4.x-scala2.12",
                 "node_type_id": "i3.xlarge", "num_workers": 0},
            )
            info = await ok_json("get-cluster-info", {"cluster_id": cluster["cluster_id"]})
            assert info["cluster_name"] == f"mcp-{suffix}"
            group = await ok_json("create-group", {"displayName": f"mcp-{suffix}"})
            assert group["displayName"] == f"mcp-{suffix}"
            job = await ok_json(
                "create-job",
                {"name": f"mcp-{suffix}",
                 "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "dbfs:/x.py"}}]},
            )
            assert (await ok_json("show-job", {"job_id": job["job_id"]}))["job_id"] == job["job_id"]
            schema = await ok_json("create-schema", {"catalog_name": "main", "name": f"mcp_{suffix}"})
            assert schema["full_name"] == f"main.mcp_{suffix}"
            table = await ok("execute-statement", {
                "warehouse_id": warehouse_id,
                "statement": f"CREATE TABLE main.mcp_{suffix}.t (a INT, b STRING)",
            })
            assert "SUCCEEDED" in table
            tables = await ok_json("query-tables", {"catalog_name": "main", "schema_name": f"mcp_{suffix}"})
            assert [t["name"] for t in tables["tables"]] == ["t"]
            users = await ok_json("list-users", {})
            assert users["Resources"]
            volume = await ok_json("create-volume", {
                "catalog_name": "main", "schema_name": f"mcp_{suffix}", "name": "v",
                "volume_type": "MANAGED",
            })
            assert volume["full_name"] == f"main.mcp_{suffix}.v"
            warehouses = await ok_json("query-warehouses", {})
            assert any(wh["id"] == warehouse_id for wh in warehouses["warehouses"])
            await ok("create-directory", {"path": f"/Users/mcp-{suffix}"})
            listing = await ok_json("list-workspace", {"path": "/Users"})
            assert any(o["path"] == f"/Users/mcp-{suffix}" for o in listing["objects"])
            me = await ok_json("http-request", {"method": "GET", "path": "/api/2.0/preview/scim/v2/Me"})
            assert me["status"] == 200

    run(go())


def test_a_large_statement_result_is_bounded(emulator, warehouse_id):
    async def go():
        async with Client(stdio(emulator, "--max-rows", "20")) as c:
            result = await c.call_tool("execute-statement", {
                "warehouse_id": warehouse_id,
                "statement": "SELECT id, concat('row-', CAST(id AS STRING)) AS label FROM range(200000)",
                "wait_timeout": "50s",
            })
            return text_of(result), result.is_error

    text, is_error = run(go())
    assert not is_error, text
    assert "state: SUCCEEDED" in text
    assert "rows: 200000" in text
    assert "| id | label |" in text
    # Without ORDER BY neither Databricks nor the emulator promises an order (DataFusion runs
    # the projection on several partitions), so check the shape and consistency of the rows.
    rows = re.findall(r"^\| (\d+) \| row-(\d+) \|$", text, re.MULTILINE)
    assert len(rows) == 20, text
    assert all(a == b for a, b in rows), rows
    assert len({a for a, _ in rows}) == 20, rows
    assert "Showing the first 20 of 200000 rows" in text
    assert "OFFSET 20" in text
    assert len(text.encode()) < 8 * 1024, len(text)


def test_schema_failures_and_databricks_errors_are_tool_errors(emulator):
    async def go():
        async with Client(stdio(emulator)) as c:
            missing = await c.call_tool("get-cluster-info", {})
            wrong_type = await c.call_tool("create-group", {"displayName": 7})
            unknown_field = await c.call_tool("query-catalogs", {"colour": "red"})
            not_found = await c.call_tool("get-cluster-info", {"cluster_id": "0000-000000-nope"})
            with pytest.raises(MCPError) as no_tool:
                await c.call_tool("no-such-tool", {})
            return missing, wrong_type, unknown_field, not_found, no_tool.value

    missing, wrong_type, unknown_field, not_found, no_tool = run(go())
    for result in (missing, wrong_type, unknown_field, not_found):
        assert result.is_error
    error = json.loads(text_of(missing))
    assert error["code"] == "INVALID_INPUT" and "`cluster_id`" in error["message"]
    assert "`displayName`" in json.loads(text_of(wrong_type))["message"]
    assert "`colour`" in json.loads(text_of(unknown_field))["message"]
    error = json.loads(text_of(not_found))
    assert error["code"] == "NOT_FOUND" and error["error_code"]
    assert "no-such-tool" in str(no_tool)


def test_read_only_refuses_a_mutating_tool_by_name(emulator):
    async def go():
        async with Client(stdio(emulator, "--read-only")) as c:
            with pytest.raises(MCPError) as refused:
                await c.call_tool("delete-cluster", {"cluster_id": "x"})
            return refused.value

    assert "read-only" in str(run(go()))


def test_a_job_wait_outlives_several_access_tokens(emulator):
    """An M2M service principal whose tokens live one second; the run takes several."""
    saved = emulator.admin("GET", "/settings")
    emulator.admin(
        "PATCH", "/settings",
        {"oauth": {"access_token_lifetime_seconds": 1}, "jobs": {"task_run_ms": 3500}},
    )
    try:
        account_id = emulator.admin("GET", "/settings")["oauth"]["account_id"]
        req = urllib.request.Request(
            f"{emulator.url}/api/2.0/accounts/{account_id}/oauth2/custom-app-integrations",
            data=json.dumps({"name": "mcp-wait", "redirect_urls": ["http://localhost:8020"],
                             "scopes": ["all-apis"], "confidential": True}).encode(),
            method="POST",
        )
        req.add_header("Authorization", f"Bearer {TOKEN}")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as resp:
            app = json.loads(resp.read())
        env = {"DATABRICKS_HOST": emulator.url, "DATABRICKS_CLIENT_ID": app["client_id"],
               "DATABRICKS_CLIENT_SECRET": app["client_secret"]}

        async def go():
            async with Client(stdio(emulator, "--toolset", "jobs", env=env)) as c:
                job = await c.call_tool("create-job", {
                    "name": "mcp-wait",
                    "tasks": [{"task_key": "t", "spark_python_task": {"python_file": "dbfs:/x.py"}}],
                })
                assert not job.is_error, text_of(job)
                job_id = json.loads(text_of(job))["job_id"]
                before = emulator.admin("GET", "/counters")["endpoints"].get("POST /oidc/v1/token", 0)
                waited = await c.call_tool("run-job", {"job_id": job_id, "wait": True,
                                                       "timeout_seconds": 60})
                after = emulator.admin("GET", "/counters")["endpoints"].get("POST /oidc/v1/token", 0)
                return waited, after - before

        waited, tokens = run(go())
        assert not waited.is_error, text_of(waited)
        state = json.loads(text_of(waited))["state"]
        assert state["life_cycle_state"] == "TERMINATED" and state["result_state"] == "SUCCESS"
        assert tokens >= 2, f"the wait spans several token lifetimes (got {tokens} tokens)"
    finally:
        emulator.admin(
            "PATCH", "/settings",
            {"oauth": {"access_token_lifetime_seconds": saved["oauth"]["access_token_lifetime_seconds"]},
             "jobs": {"task_run_ms": saved["jobs"]["task_run_ms"]}},
        )


# ---------------------------------------------------------------------------------------------
# Streamable HTTP on brickwire serve


URL = re.compile(r"(http://127\.0\.0\.1:\d+)")


class Service:
    """`brickwire serve` on a free port with its own data dir."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        env = dict(
            os.environ,
            BRICKWIRE_API_KEY=API_KEY,
            BRICKWIRE_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        )
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.dir.name],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        for line in self.proc.stdout:
            match = URL.search(line)
            if match:
                self.url = match.group(1)
                break
        else:
            raise RuntimeError("brickwire serve did not print its URL")
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def api(self, method, path, body=None, expect=None):
        req = urllib.request.Request(
            self.url + path, data=None if body is None else json.dumps(body).encode(), method=method
        )
        req.add_header("Authorization", f"Bearer {API_KEY}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        answer = json.loads(raw) if raw else None
        if expect is not None:
            assert status == expect, (method, path, status, answer)
        return answer

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()


@pytest.fixture(scope="module")
def service():
    svc = Service()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def account(service, emulator):
    linked = service.api(
        "POST", "/api/v1/linked-accounts",
        {"workspace_url": emulator.url, "token": TOKEN, "display_name": "mcp"}, expect=201,
    )
    return linked["id"]


def http_server(url, headers):
    return streamable_http_client(url, http_client=httpx2.AsyncClient(headers=headers))


def new_token(service, account, **body):
    return service.api("POST", f"/api/v1/linked-accounts/{account}/mcp-tokens", body, expect=201)


def test_an_mcp_token_opens_its_toolsets_over_http(service, account, warehouse_id):
    created = new_token(service, account, name="agent", toolsets=["sql", "Warehouses"])
    assert created["token"].startswith("bwmcp_") and created["mcp_url"] == service.url + "/mcp"
    assert created["toolsets"] == ["sql", "warehouses"] and created["read_only"] is False

    async def go():
        server = http_server(created["mcp_url"], {"Authorization": f"Bearer {created['token']}"})
        async with Client(server) as c:
            tools = (await c.list_tools()).tools
            result = await c.call_tool("execute-statement", {
                "warehouse_id": warehouse_id, "statement": "SELECT * FROM range(1000)",
            })
            bad = await c.call_tool("execute-statement", {"statement": "SELECT 1"})
            with pytest.raises(MCPError):
                await c.call_tool("query-catalogs", {})
            return tools, result, bad

    tools, result, bad = run(go())
    assert [t.name for t in tools] == [
        a["id"] for a in CATALOG if a["group"] in ("SQL", "Warehouses")
    ]
    assert not result.is_error and "Showing the first 50 of 1000 rows" in text_of(result)
    assert bad.is_error and "`warehouse_id`" in json.loads(text_of(bad))["message"]
    # the listing shows metadata, never the token
    listed = service.api("GET", f"/api/v1/linked-accounts/{account}/mcp-tokens", expect=200)
    assert created["id"] in [t["id"] for t in listed["mcp_tokens"]]
    assert created["token"] not in json.dumps(listed)


def test_a_read_only_token_lists_only_read_only_tools(service, account):
    created = new_token(service, account, read_only=True)

    async def go():
        server = http_server(created["mcp_url"], {"Authorization": f"Bearer {created['token']}"})
        async with Client(server) as c:
            return (await c.list_tools()).tools

    tools = run(go())
    assert [t.name for t in tools] == [a["id"] for a in CATALOG if a["read_only"]]


def post_mcp(service, headers):
    """One raw JSON-RPC request to /mcp; returns the httpx response."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    base = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    return httpx2.post(service.url + "/mcp", json=body, headers={**base, **headers}, timeout=30)


def test_wrong_and_revoked_tokens_get_401(service, account):
    wrong = post_mcp(service, {"Authorization": "Bearer bwmcp_not-a-token"})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].lower().startswith("bearer")
    assert wrong.json()["error"]["code"] == "UNAUTHENTICATED"
    assert post_mcp(service, {}).status_code == 401

    created = new_token(service, account, name="to-revoke")
    good = {"Authorization": f"Bearer {created['token']}"}

    async def list_with(headers):
        async with Client(http_server(created["mcp_url"], headers)) as c:
            return (await c.list_tools()).tools

    assert run(list_with(good))
    revoked = service.api(
        "DELETE", f"/api/v1/linked-accounts/{account}/mcp-tokens/{created['id']}", expect=200
    )
    assert revoked["revoked_at"]
    answer = post_mcp(service, good)
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]
    with pytest.raises(Exception):
        run(list_with(good))


def test_the_operator_key_acts_as_a_named_account(service, account):
    key = {"Authorization": f"Bearer {API_KEY}"}
    missing = post_mcp(service, key)
    assert missing.status_code == 400 and "x-brickwire-linked-account" in missing.json()["error"]["message"]
    unknown = post_mcp(service, {**key, "X-Brickwire-Linked-Account": "la_nope"})
    assert unknown.status_code == 404

    async def go(headers):
        async with Client(http_server(service.url + "/mcp", headers)) as c:
            return (await c.list_tools()).tools

    every = run(go({**key, "X-Brickwire-Linked-Account": account}))
    assert len(every) == len(CATALOG)
    narrowed = run(go({**key, "X-Brickwire-Linked-Account": account,
                       "X-Brickwire-Toolsets": "jobs", "X-Brickwire-Read-Only": "true"}))
    assert {t.name for t in narrowed} == {
        a["id"] for a in CATALOG if a["group"] == "Jobs" and a["read_only"]
    }


def test_foreign_origins_and_hosts_are_refused(service, account):
    created = new_token(service, account, name="origin")
    auth = {"Authorization": f"Bearer {created['token']}"}
    assert post_mcp(service, {**auth, "Origin": "https://evil.example"}).status_code == 403
    assert post_mcp(service, {**auth, "Host": "evil.example"}).status_code == 403
    assert post_mcp(service, {**auth, "Origin": service.url}).status_code == 200
