"""Fixtures for the connect-page suite: a real headless Chromium (Debian's `chromium` driven by
`chromedriver` over WebDriver) clicking through `brickwire serve`'s connect page, with the
`brickwire emulator` binary as the end user's Databricks workspace.

Each test module gets one emulator and one service process on free ports, and one browser.
`service.api(...)` calls the operator REST API with the operator key; `emulator.call(...)` calls
the workspace API with the emulator's admin token; `oauth_app(...)` registers an app connection
in the emulator the way an account admin would and points the service's app settings at it.
"""

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

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService

BIN = os.environ.get("BRICKWIRE_BIN", "target/debug/brickwire")
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")

#: The emulator's personal access token: the workspace admin's, as an end user would paste it.
TOKEN = "dapi-browser-suite"
#: The operator's API key of the service under test.
API_KEY = "bw-operator-" + secrets.token_urlsafe(24)
URL = re.compile(r"(http://127\.0\.0\.1:\d+)")


def _read_url(proc, what, timeout=20):
    """Reads the child's stdout until a loopback URL appears; fails after `timeout` seconds."""
    found = {}

    def scan():
        seen = []
        for line in proc.stdout:
            seen.append(line)
            match = URL.search(line)
            if match:
                found["url"] = match.group(1)
                return
        found["seen"] = seen

    reader = threading.Thread(target=scan, daemon=True)
    reader.start()
    reader.join(timeout)
    if "url" not in found:
        proc.kill()
        raise RuntimeError(f"{what} did not print its URL: {found.get('seen')!r}")
    # Keep draining stdout so the child never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return found["url"]


def _request(url, method="GET", body=None, headers=None):
    """One JSON request; returns (status, decoded body or None). HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


class Emulator:
    """`brickwire emulator` on a free port."""

    def __init__(self):
        self.token = TOKEN
        self.proc = subprocess.Popen(
            [BIN, "emulator", "--listen", "127.0.0.1:0", "--token", TOKEN],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = _read_url(self.proc, "the emulator")
        _, meta = _request(self.url + "/.well-known/databricks-config")
        self.account_id = meta["account_id"]

    def call(self, method, path, body=None):
        """Calls the workspace API as its admin; asserts success and returns the JSON body."""
        status, answer = _request(
            self.url + path, method, body, {"Authorization": f"Bearer {TOKEN}"}
        )
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def create_user(self, user_name):
        """Adds a workspace user, who then appears on the consent page."""
        return self.call("POST", "/api/2.0/preview/scim/v2/Users", {"userName": user_name})

    def create_app_connection(self, name, redirect_url, scopes):
        """Registers a public OAuth app connection (PKCE, no secret); returns its client id."""
        path = f"/api/2.0/accounts/{self.account_id}/oauth2/custom-app-integrations"
        app = self.call(
            "POST",
            path,
            {
                "name": name,
                "redirect_urls": [redirect_url],
                "scopes": scopes,
                "confidential": False,
            },
        )
        return app["client_id"]


class BrickwireService:
    """`brickwire serve` on a free port with its own data dir and keys from the environment."""

    def __init__(self, data_dir):
        env = dict(
            os.environ,
            BRICKWIRE_API_KEY=API_KEY,
            BRICKWIRE_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        )
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        self.url = _read_url(self.proc, "the service")

    def api(self, method, path, body=None, expect=None):
        """Calls the operator REST API; with `expect`, asserts the status. Returns (status, body)."""
        status, answer = _request(
            self.url + path, method, body, {"Authorization": f"Bearer {API_KEY}"}
        )
        if expect is not None:
            assert status == expect, (method, path, status, answer)
        return status, answer

    def connect_session(self, **fields):
        """A fresh connect session; returns its JSON (`id`, `connect_url`, `expires_at`)."""
        _, session = self.api("POST", "/api/v1/connect-sessions", fields, expect=201)
        return session

    def linked_account_ids(self):
        _, answer = self.api("GET", "/api/v1/linked-accounts", expect=200)
        items = answer if isinstance(answer, list) else answer.get("linked_accounts", [])
        return {a["id"] for a in items}

    def run_action(self, account_id, action_id, action_input):
        """Runs an action on a linked account through the REST API; returns (status, body)."""
        return self.api(
            "POST", f"/api/v1/linked-accounts/{account_id}/actions/{action_id}", action_input
        )


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator()
    yield emu
    _stop(emu.proc)


@pytest.fixture(scope="module")
def service():
    with tempfile.TemporaryDirectory(prefix="brickwire-browser-") as data_dir:
        svc = BrickwireService(data_dir)
        yield svc
        _stop(svc.proc)


@pytest.fixture
def oauth_app(emulator, service):
    """`oauth_app(app_scopes, additional, custom=())`: registers an app connection allowing
    `app_scopes` with the service's callback URL, then stores app settings that request
    `additional` and `custom` scopes with its client id and the emulator as the workspace."""

    def configure(app_scopes, additional, custom=()):
        _, settings = service.api("GET", "/api/v1/app-settings", expect=200)
        callback = settings["callback_url"]
        assert callback.endswith("/oauth/callback"), settings
        client_id = emulator.create_app_connection(
            f"browser-suite-{secrets.token_hex(4)}", callback, list(app_scopes)
        )
        service.api(
            "PUT",
            "/api/v1/app-settings",
            {
                "oauth_client_id": client_id,
                "workspace_url": emulator.url,
                "scopes": {"additional": list(additional), "custom": list(custom)},
            },
            expect=200,
        )
        return client_id

    return configure


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, for `_show_page_on_failure`."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, "report_" + report.when, report)


@pytest.fixture(autouse=True)
def _show_page_on_failure(request):
    """When a test that used the browser fails, adds where the browser was and what the page
    said to the report: the page is the evidence."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or not report.failed or "browser" not in request.fixturenames:
        return
    driver = request.getfixturevalue("browser")
    try:
        text = driver.find_element("tag name", "body").text
    except Exception as err:  # the page may be gone; the report must still be written
        text = f"(no page text: {err})"
    report.sections.append(("browser page", f"{driver.current_url}\n{text}"))


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: install Debian's chromium and chromium-driver "
            "(.ci/run does), or set CHROMIUM_BIN / CHROMEDRIVER_BIN"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
