"""The SQL Statement Execution API through the official SDK (`w.statement_execution`).

The emulator's warehouses accept any id for statements in this branch, so a fixed string is
used; once real warehouses are merged this should create one first.
"""

import csv
import io
import json
import time
import urllib.error
import urllib.request

import pytest
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.sql import (
    Disposition,
    ExecuteStatementRequestOnWaitTimeout,
    Format,
    StatementParameterListItem,
    StatementState,
)

LONG_QUERY = "SELECT count(*) FROM range(10000000000)"
TERMINAL = {StatementState.SUCCEEDED, StatementState.FAILED, StatementState.CANCELED, StatementState.CLOSED}


def until_terminal(w, statement_id, deadline_s=60):
    end = time.monotonic() + deadline_s
    while True:
        st = w.statement_execution.get_statement(statement_id)
        if st.status.state in TERMINAL:
            return st
        assert time.monotonic() < end, f"statement stuck in {st.status.state}"
        time.sleep(0.1)


def fetch(link, extra_headers=None):
    """Fetches an external link like a presigned URL: its own headers, no Authorization."""
    req = urllib.request.Request(link.external_link)
    for k, v in (link.http_headers or {}).items():
        req.add_header(k, v)
    for k, v in (extra_headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as resp:
        return resp.read()


def test_inline_select_returns_schema_and_string_values(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement="SELECT 1 AS a, 'x' AS b, true AS c, NULL AS d, CAST('1.50' AS DECIMAL(5,2)) AS e",
        warehouse_id=warehouse_id,
        wait_timeout="30s",
    )
    assert st.status.state == StatementState.SUCCEEDED
    cols = st.manifest.schema.columns
    assert [c.name for c in cols] == ["a", "b", "c", "d", "e"]
    assert cols[1].type_name.value == "STRING"
    assert cols[4].type_text == "decimal(5,2)"
    assert st.manifest.total_row_count == 1
    assert st.result.data_array == [["1", "x", "true", None, "1.50"]]
    assert st.result.next_chunk_index is None


def test_async_execution_is_pending_then_succeeds(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement="SELECT 42 AS answer", warehouse_id=warehouse_id, wait_timeout="0s"
    )
    assert st.status.state == StatementState.PENDING
    done = until_terminal(w, st.statement_id)
    assert done.status.state == StatementState.SUCCEEDED
    assert done.result.data_array == [["42"]]


def test_sql_error_is_failed_not_an_exception(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement="SELEC oops", warehouse_id=warehouse_id, wait_timeout="30s"
    )
    assert st.status.state == StatementState.FAILED
    assert st.status.error.error_code is not None
    assert st.status.error.message


def test_parameters(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement="SELECT :who AS who, :n * 2 AS n, :nothing AS nothing",
        warehouse_id=warehouse_id,
        wait_timeout="30s",
        parameters=[
            StatementParameterListItem(name="who", value="world"),
            StatementParameterListItem(name="n", value="21", type="INT"),
            StatementParameterListItem(name="nothing"),
        ],
    )
    assert st.status.state == StatementState.SUCCEEDED, st.status
    assert st.result.data_array == [["world", "42", None]]


def test_request_errors_raise(w, warehouse_id):
    with pytest.raises(BadRequest, match="wait_timeout"):
        w.statement_execution.execute_statement(
            statement="SELECT 1", warehouse_id=warehouse_id, wait_timeout="2s"
        )
    with pytest.raises(BadRequest, match="CSV"):
        w.statement_execution.execute_statement(
            statement="SELECT 1", warehouse_id=warehouse_id, format=Format.CSV
        )
    with pytest.raises(NotFound):
        w.statement_execution.get_statement("no-such-statement")


def test_inline_chunks_cover_the_result(w, warehouse_id):
    n = 250_000
    st = w.statement_execution.execute_statement(
        statement=f"SELECT * FROM range({n})", warehouse_id=warehouse_id, wait_timeout="50s"
    )
    assert st.status.state == StatementState.SUCCEEDED
    m = st.manifest
    assert m.total_row_count == n
    assert m.total_chunk_count == len(m.chunks) > 1
    data, total, rows, offset = st.result, 0, 0, 0
    while True:
        assert data.row_offset == offset
        assert len(data.data_array) == data.row_count
        total += sum(int(r[0]) for r in data.data_array)
        rows += data.row_count
        offset += data.row_count
        if data.next_chunk_index is None:
            break
        assert data.next_chunk_internal_link.endswith(f"/result/chunks/{data.next_chunk_index}")
        data = w.statement_execution.get_statement_result_chunk_n(st.statement_id, data.next_chunk_index)
    assert rows == n
    assert total == n * (n - 1) // 2


def external(w, warehouse_id, fmt, sql="SELECT id, concat('v', CAST(id AS STRING)) AS s FROM range(1000) ORDER BY id"):
    st = w.statement_execution.execute_statement(
        statement=sql,
        warehouse_id=warehouse_id,
        wait_timeout="30s",
        disposition=Disposition.EXTERNAL_LINKS,
        format=fmt,
    )
    assert st.status.state == StatementState.SUCCEEDED, st.status
    assert st.result.data_array is None
    return st


def test_external_links_json_and_csv(w, warehouse_id):
    st = external(w, warehouse_id, Format.JSON_ARRAY)
    link = st.result.external_links[0]
    body = fetch(link)
    assert len(body) == link.byte_count
    rows = json.loads(body)
    assert rows[0] == ["0", "v0"] and len(rows) == 1000

    st = external(w, warehouse_id, Format.CSV)
    body = fetch(st.result.external_links[0]).decode()
    parsed = list(csv.reader(io.StringIO(body)))
    assert parsed[0] == ["id", "s"]
    assert parsed[1] == ["0", "v0"] and len(parsed) == 1001


def test_external_links_arrow_stream(w, warehouse_id):
    st = external(w, warehouse_id, Format.ARROW_STREAM)
    assert st.manifest.format == Format.ARROW_STREAM
    body = fetch(st.result.external_links[0])
    # An Arrow IPC stream: messages start with the continuation marker and end with EOS.
    assert body[:4] == b"\xff\xff\xff\xff"
    assert body[-8:] == b"\xff\xff\xff\xff\x00\x00\x00\x00"
    assert b"id" in body and b"v999" in body


def test_external_link_refuses_authorization_header(w, warehouse_id):
    link = external(w, warehouse_id, Format.CSV).result.external_links[0]
    with pytest.raises(urllib.error.HTTPError) as err:
        fetch(link, {"Authorization": "Bearer dapi-sdk-suite"})
    assert err.value.code == 403
    bare = urllib.request.Request(link.external_link)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bare)
    assert err.value.code == 403


def test_external_link_chunk_can_be_refetched_with_a_fresh_link(w, warehouse_id):
    st = external(w, warehouse_id, Format.JSON_ARRAY)
    again = w.statement_execution.get_statement_result_chunk_n(st.statement_id, 0)
    assert again.external_links[0].external_link != st.result.external_links[0].external_link
    assert json.loads(fetch(again.external_links[0]))[999] == ["999", "v999"]


def test_wait_timeout_cancel(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement=LONG_QUERY,
        warehouse_id=warehouse_id,
        wait_timeout="5s",
        on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CANCEL,
    )
    assert st.status.state == StatementState.CANCELED


def test_cancel_execution(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement=LONG_QUERY, warehouse_id=warehouse_id, wait_timeout="0s"
    )
    w.statement_execution.cancel_execution(st.statement_id)
    assert until_terminal(w, st.statement_id).status.state == StatementState.CANCELED


def test_row_limit_truncates(w, warehouse_id):
    st = w.statement_execution.execute_statement(
        statement="SELECT * FROM range(100)", warehouse_id=warehouse_id, wait_timeout="30s", row_limit=7
    )
    assert st.manifest.truncated is True
    assert st.manifest.total_row_count == 7
    assert len(st.result.data_array) == 7
