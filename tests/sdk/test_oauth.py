"""OAuth through the official SDK: machine-to-machine (client credentials) with a confidential
app connection created over HTTP, including discovery through /.well-known/databricks-config."""

import json
import urllib.error
import urllib.request

import pytest
from databricks.sdk import WorkspaceClient

from conftest import TOKEN


def _call(emulator, method, path, body=None, token=TOKEN):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(emulator.url + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def _app(emulator, **fields):
    meta = json.loads(urllib.request.urlopen(emulator.url + "/.well-known/databricks-config").read())
    path = f"/api/2.0/accounts/{meta['account_id']}/oauth2/custom-app-integrations"
    return _call(emulator, "POST", path, {"name": "sdk-robot", "scopes": ["all-apis"], **fields})


def test_m2m_with_the_sdk(emulator):
    app = _app(emulator, confidential=True)
    assert app["client_secret"]
    w = WorkspaceClient(
        host=emulator.url,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        auth_type="oauth-m2m",
    )
    me = w.current_user.me()
    assert me.user_name == app["client_id"]
    assert me.display_name == "sdk-robot"
    # The token works on other SCIM calls too.
    assert any(u.user_name == "admin@brickwire.local" for u in w.users.list())


def test_m2m_bad_secret_fails(emulator):
    app = _app(emulator, confidential=True)
    w = WorkspaceClient(
        host=emulator.url,
        client_id=app["client_id"],
        client_secret="not-the-secret",
        auth_type="oauth-m2m",
    )
    with pytest.raises(Exception) as err:
        w.current_user.me()
    assert "invalid_client" in str(err.value)


def test_unknown_bearer_token_is_rejected(emulator):
    with pytest.raises(urllib.error.HTTPError) as err:
        _call(emulator, "GET", "/api/2.0/preview/scim/v2/Me", token="not-a-token")
    assert err.value.code == 401
