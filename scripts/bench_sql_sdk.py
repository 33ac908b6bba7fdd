"""The Python SDK side of scripts/bench_sql.sh: the usual execute-and-fetch-chunks loop.

Runs one statement with disposition EXTERNAL_LINKS, waits for it, then walks every chunk in
order (chunk 0 from the response, the rest via get_statement_result_chunk_n) and downloads each
pre-signed link with requests (sending the link's http_headers, no credentials). MODE says what
it does with a chunk:

- `bytes` (default): asks for CSV and appends each chunk's bytes to the file unparsed, the
  cheapest thing a Python loop can do (it never sees a row, so it is a lower bound);
- `rows`: asks for JSON_ARRAY (the format the SDK's docs start from), parses each chunk and
  writes its rows with the csv module: what a program that needs the rows does.

Usage: bench_sql_sdk.py HOST TOKEN WAREHOUSE_ID "STATEMENT" OUTPUT_FILE [MODE]
"""

import csv
import sys
import time

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import Disposition, Format, StatementState


def main() -> int:
    host, token, warehouse_id, statement, output = sys.argv[1:6]
    mode = sys.argv[6] if len(sys.argv) > 6 else "bytes"
    if mode not in ("bytes", "rows"):
        print(f"MODE must be bytes or rows, not {mode!r}", file=sys.stderr)
        return 2
    started = time.monotonic()
    w = WorkspaceClient(host=host, token=token)
    response = w.statement_execution.execute_statement(
        statement=statement,
        warehouse_id=warehouse_id,
        disposition=Disposition.EXTERNAL_LINKS,
        format=Format.CSV if mode == "bytes" else Format.JSON_ARRAY,
        wait_timeout="30s",
    )
    statement_id = response.statement_id
    while response.status.state in (StatementState.PENDING, StatementState.RUNNING):
        time.sleep(1)
        response = w.statement_execution.get_statement(statement_id)
    if response.status.state != StatementState.SUCCEEDED:
        print(f"statement {response.status.state}: {response.status.error}", file=sys.stderr)
        return 1
    session = requests.Session()
    rows = 0
    chunk = response.result
    columns = [c.name for c in response.manifest.schema.columns]
    binary = mode == "bytes"
    with open(output, "wb" if binary else "w", newline=None if binary else "") as out:
        rows_out = None
        if mode == "rows":
            rows_out = csv.writer(out, lineterminator="\n")
            rows_out.writerow(columns)
        while chunk is not None:
            for link in chunk.external_links or []:
                got = session.get(link.external_link, headers=link.http_headers or {})
                got.raise_for_status()
                if rows_out is None:
                    out.write(got.content)
                else:
                    rows_out.writerows(got.json())
                rows += link.row_count or 0
            next_index = chunk.next_chunk_index
            if next_index is None and chunk.external_links:
                next_index = chunk.external_links[-1].next_chunk_index
            if next_index is None:
                break
            chunk = w.statement_execution.get_statement_result_chunk_n(statement_id, next_index)
    loop = time.monotonic() - started
    print(f"{rows} rows; {loop:.2f} s after imports", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
