"""Rows per second of the emulator for one large result.

Executes `SELECT id, id * 2 AS d, CAST(id AS STRING) AS s FROM range(ROWS)` with EXTERNAL_LINKS
and ARROW_STREAM (waiting on the server), then downloads every chunk's link in order without
parsing it. Prints the execution time, the download time, bytes, and rows per second over both.
Only the standard library is used, so the client adds as little as possible.

Usage: bench_rows.py HOST TOKEN WAREHOUSE_ID ROWS
"""

import json
import sys
import time
import urllib.request


def call(host, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(host + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def main():
    host, token, warehouse_id, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sql = f"SELECT id, id * 2 AS d, CAST(id AS STRING) AS s FROM range({rows})"
    started = time.perf_counter()
    st = call(host, token, "POST", "/api/2.0/sql/statements", {
        "statement": sql, "warehouse_id": warehouse_id, "wait_timeout": "50s",
        "disposition": "EXTERNAL_LINKS", "format": "ARROW_STREAM",
    })
    while st["status"]["state"] in ("PENDING", "RUNNING"):
        time.sleep(0.05)
        st = call(host, token, "GET", f"/api/2.0/sql/statements/{st['statement_id']}")
    assert st["status"]["state"] == "SUCCEEDED", st["status"]
    executed = time.perf_counter()
    total_bytes, chunk = 0, st["result"]
    while True:
        nxt = None
        for link in chunk.get("external_links", []):
            req = urllib.request.Request(link["external_link"], headers=link.get("http_headers") or {})
            with urllib.request.urlopen(req) as resp:
                total_bytes += len(resp.read())
            nxt = link.get("next_chunk_internal_link")
        if not nxt:
            break
        chunk = call(host, token, "GET", nxt)
    done = time.perf_counter()
    got = st["manifest"]["total_row_count"]
    assert got == rows, got
    print(f"execute {executed - started:.2f} s, download {done - executed:.2f} s "
          f"({total_bytes / 2**20:.1f} MiB in {st['manifest']['total_chunk_count']} chunks), "
          f"{rows / (done - started):,.0f} rows/s")


if __name__ == "__main__":
    main()
