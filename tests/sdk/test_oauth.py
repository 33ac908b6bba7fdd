"""OAuth through the official SDK: machine-to-machine (client credentials) with a confidential
app connection created over HTTP, including discovery through /.well-known/databricks-config, and
user-to-machine (authorization code + PKCE) with the consent page clicked through over HTTP."""

import html
import json
import re
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.oauth import OAuthClient

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


def _click_allow(auth_url, user_name="admin@brickwire.local"):
    """Does what a person does on the consent page: pick a user, press Allow. Returns the
    callback's query parameters and its parsed URL."""
    session = requests.Session()
    page = session.get(auth_url)
    assert page.status_code == 200, page.text
    token = re.search(r'name="consent_token" value="([^"]+)"', page.text).group(1)
    users = dict(
        (html.unescape(label).strip(), value)
        for value, label in re.findall(r'name="user_id" value="([^"]+)"[^>]*>([^<]+)<', page.text)
    )
    user_id = next(v for k, v in users.items() if user_name in k)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    answer = session.post(
        emulator_base(auth_url) + action,
        data={"consent_token": token, "user_id": user_id, "decision": "allow"},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    location = urlparse(answer.headers["Location"])
    return {k: v[0] for k, v in parse_qs(location.query).items()}, location


def emulator_base(url):
    u = urlparse(url)
    return f"{u.scheme}://{u.netloc}"


def test_u2m_with_the_builtin_cli_client(emulator):
    client = OAuthClient.from_host(emulator.url, client_id="databricks-cli", redirect_url="http://localhost:8020")
    consent = client.initiate_consent()
    query, location = _click_allow(consent.authorization_url)
    assert f"{location.scheme}://{location.netloc}" == "http://localhost:8020"
    creds = consent.exchange_callback_parameters(query)
    w = WorkspaceClient(host=emulator.url, credentials_strategy=creds)
    assert w.current_user.me().user_name == "admin@brickwire.local"
    # The SDK's own refresh call works against the token endpoint.
    refreshed = creds.refresh()
    assert refreshed.access_token and refreshed.refresh_token


def test_u2m_with_a_confidential_custom_app_and_rotation(emulator):
    app = _app(
        emulator,
        confidential=True,
        redirect_urls=["http://localhost:8765/callback"],
        scopes=["all-apis", "offline_access"],
        token_access_policy={"enable_single_use_refresh_tokens": True},
    )
    _call(emulator, "POST", "/api/2.0/preview/scim/v2/Users", {"userName": "u2m-dev@example.com"})
    client = OAuthClient.from_host(
        emulator.url,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        redirect_url="http://localhost:8765/callback",
    )
    consent = client.initiate_consent()
    query, _ = _click_allow(consent.authorization_url, user_name="u2m-dev@example.com")
    creds = consent.exchange_callback_parameters(query)
    first_refresh = creds.token().refresh_token
    w = WorkspaceClient(host=emulator.url, credentials_strategy=creds)
    assert w.current_user.me().user_name == "u2m-dev@example.com"
    rotated = creds.refresh()
    assert rotated.refresh_token != first_refresh
