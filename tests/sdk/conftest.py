"""Fixtures for the acceptance suite: the official Databricks SDK against a fresh emulator.

Each test module gets its own emulator process (the `brickwire emulator` binary on a free port),
so tests cannot leak state into each other's modules. `w` is a WorkspaceClient authenticated with
the emulator's personal access token; `admin` talks to the emulator's admin API.
"""

import json
import os
import re
import subprocess
import urllib.request

import pytest
from databricks.sdk import WorkspaceClient

TOKEN = "dapi-sdk-suite"
BIN = os.environ.get("BRICKWIRE_BIN", "target/debug/brickwire")


class Emulator:
    def __init__(self):
        self.proc = subprocess.Popen(
            [BIN, "emulator", "--listen", "127.0.0.1:0", "--token", TOKEN],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"emulator did not print its URL: {line!r}")
        self.url = match.group(1)

    def admin(self, method, path, body=None):
        """Calls the emulator's admin API (`/_emulator/...`) and returns the decoded JSON."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + "/_emulator" + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator()
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def w(emulator):
    return WorkspaceClient(host=emulator.url, token=TOKEN, auth_type="pat")


@pytest.fixture(scope="module")
def warehouse_id(w):
    """A running SQL warehouse for statement tests."""
    warehouse = w.warehouses.create_and_wait(name="sdk-suite", cluster_size="2X-Small")
    return warehouse.id
