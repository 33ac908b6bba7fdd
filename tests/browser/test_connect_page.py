"""The connect page in a real browser: an end user links a Databricks workspace by API key or
by OAuth (clicking through the emulator's consent page), sees a result page, and the product
then runs actions on the new linked account through the operator REST API.

Failures are checked from both sides: what the page tells the user, and that nothing was
linked behind it.
"""

import http.server
import secrets
import socket
import threading

import pytest
from selenium.common.exceptions import NoSuchElementException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 20
ADMIN = "admin@brickwire.local"
#: Every scope the connect flow requests by default, allowed by the app connection.
APP_SCOPES = ["all-apis", "offline_access"]


def wait_for(browser, by, value):
    return WebDriverWait(browser, WAIT).until(EC.presence_of_element_located((by, value)))


def result(browser):
    """Waits for the result page; returns (status, linked account id or None, visible text)."""
    element = wait_for(browser, By.ID, "result")
    return (
        element.get_attribute("data-status"),
        element.get_attribute("data-linked-account-id"),
        element.text,
    )


def submit_api_key(browser, workspace_url, token):
    form = wait_for(browser, By.ID, "api-key-form")
    for name, value in (("workspace_url", workspace_url), ("token", token)):
        field = form.find_element(By.NAME, name)
        if field.get_attribute("readonly") is not None:
            continue  # the connect session fixed the workspace
        field.clear()
        field.send_keys(value)
    form.find_element(By.ID, "api-key-submit").click()


def me(service, account_id):
    """Who the linked account acts as, asked through an action run by the service."""
    status, answer = service.run_action(
        account_id,
        "http-request",
        {"method": "GET", "path": "/api/2.0/preview/scim/v2/Me"},
    )
    assert status == 200, answer
    assert "error" not in answer, answer
    return answer["output"]["body"]["userName"]


def start_oauth(browser, service):
    """Opens a fresh connect link and presses "Connect with Databricks"; waits for the
    emulator's consent page."""
    session = service.connect_session(end_user_ref=f"user-{secrets.token_hex(4)}")
    browser.get(session["connect_url"])
    wait_for(browser, By.ID, "oauth-form").find_element(By.ID, "oauth-submit").click()
    return session


def test_api_key_links_an_account_that_runs_actions(browser, emulator, service):
    session = service.connect_session(end_user_ref="api-key-user", display_name="API key user")
    before = service.linked_account_ids()
    browser.get(session["connect_url"])
    # Both ways to connect are offered side by side, with how to create a token in Databricks.
    assert wait_for(browser, By.ID, "api-key-form").is_displayed()
    assert browser.find_element(By.ID, "oauth-form").is_displayed()
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Access tokens" in page and "Generate new token" in page, page
    submit_api_key(browser, emulator.url, emulator.token)
    status, account_id, text = result(browser)
    assert status == "success", text
    assert account_id and account_id not in before
    assert service.linked_account_ids() == before | {account_id}
    # The token itself is never shown back to the user.
    assert emulator.token not in browser.page_source
    assert me(service, account_id) == ADMIN
    # A second action that changes the workspace, seen from the workspace's side.
    status, answer = service.run_action(
        account_id, "create-catalog", {"name": "linked_by_api_key"}
    )
    assert status == 200 and answer["output"]["name"] == "linked_by_api_key", answer
    assert emulator.call("GET", "/api/2.1/unity-catalog/catalogs/linked_by_api_key")["name"]


def test_invalid_token_shows_an_error_links_nothing_and_can_be_corrected(browser, emulator, service):
    session = service.connect_session(end_user_ref="wrong-token-user")
    before = service.linked_account_ids()
    browser.get(session["connect_url"])
    submit_api_key(browser, emulator.url, "dapi-not-a-valid-token")
    status, account_id, text = result(browser)
    assert status == "error", text
    assert not account_id
    assert "token" in text.lower(), text
    assert service.linked_account_ids() == before

    # A typo does not burn the link: the end user corrects the token and links the account.
    browser.get(session["connect_url"])
    submit_api_key(browser, emulator.url, emulator.token)
    status, account_id, text = result(browser)
    assert status == "success", text
    assert service.linked_account_ids() == before | {account_id}


@pytest.fixture(scope="module")
def not_a_workspace():
    """A web server that answers every request with a plain HTML page, as a mistyped URL might."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    "case, expected",
    [
        ("unreachable", "reach"),
        ("not a workspace", "databricks workspace"),
        ("plain http off loopback", "https"),
    ],
)
def test_a_bad_workspace_url_says_what_to_check_and_links_nothing(
    browser, service, not_a_workspace, case, expected
):
    url = {
        "unreachable": closed_port_url(),
        "not a workspace": not_a_workspace,
        "plain http off loopback": "http://dbc-1234abcd-5678.cloud.databricks.com",
    }[case]
    session = service.connect_session(end_user_ref=f"bad-url-{secrets.token_hex(4)}")
    before = service.linked_account_ids()
    browser.get(session["connect_url"])
    submit_api_key(browser, url, "dapi-any")
    status, account_id, text = result(browser)
    assert status == "error" and not account_id, text
    assert expected in text.lower(), text
    assert service.linked_account_ids() == before


def test_a_workspace_fixed_by_the_connect_session_needs_only_the_token(
    browser, emulator, service
):
    session = service.connect_session(end_user_ref="fixed-workspace", workspace_url=emulator.url)
    browser.get(session["connect_url"])
    field = wait_for(browser, By.ID, "api-key-form").find_element(By.NAME, "workspace_url")
    assert field.get_attribute("readonly") is not None
    assert field.get_attribute("value").rstrip("/") == emulator.url
    submit_api_key(browser, "http://ignored.example", emulator.token)
    status, account_id, text = result(browser)
    assert status == "success", text
    assert me(service, account_id) == ADMIN


def test_oauth_allow_links_the_chosen_user(browser, emulator, service, oauth_app):
    oauth_app(APP_SCOPES, ["all-apis"])
    user = f"oauth-{secrets.token_hex(4)}@example.com"
    emulator.create_user(user)
    before = service.linked_account_ids()
    session = start_oauth(browser, service)

    consent = wait_for(browser, By.ID, "consent")
    assert browser.current_url.startswith(emulator.url + "/oidc/v1/authorize")
    requested = browser.find_element(By.ID, "scopes").text.split()
    assert set(requested) == {"all-apis", "offline_access"}, requested
    choice = consent.find_element(
        By.XPATH, f".//label[contains(normalize-space(.), '{user}')]/input[@name='user_id']"
    )
    choice.click()
    browser.find_element(By.ID, "allow").click()

    status, account_id, text = result(browser)
    assert status == "success", text
    assert browser.current_url.startswith(service.url)
    assert account_id and account_id not in before
    assert service.linked_account_ids() == before | {account_id}
    assert me(service, account_id) == user
    status, answer = service.run_action(account_id, "query-catalogs", {})
    assert status == 200 and "output" in answer, answer

    # Reloading the result page replays the callback (its code and state are single use):
    # it may show the same account again, but never links a second one.
    browser.refresh()
    status, again, text = result(browser)
    assert status == "error" or again == account_id, text
    # The connect link was used up by the successful sign-in.
    browser.get(session["connect_url"])
    status, again, text = result(browser)
    assert status == "error" and not again, text
    assert service.linked_account_ids() == before | {account_id}


def test_oauth_deny_shows_an_error_and_links_nothing(browser, emulator, service, oauth_app):
    oauth_app(APP_SCOPES, ["all-apis"])
    before = service.linked_account_ids()
    start_oauth(browser, service)
    wait_for(browser, By.ID, "consent")
    browser.find_element(By.ID, "deny").click()
    status, account_id, text = result(browser)
    assert status == "error", text
    assert not account_id
    assert "denied" in text.lower() or "access_denied" in text, text
    assert service.linked_account_ids() == before


def test_a_scope_the_app_connection_does_not_allow_explains_what_to_check(
    browser, emulator, service, oauth_app
):
    # The app connection allows only what the defaults need; the settings also ask for `sql`.
    oauth_app(APP_SCOPES, ["all-apis", "sql"])
    before = service.linked_account_ids()
    start_oauth(browser, service)
    # The workspace refuses before any consent page and sends the user back with invalid_scope.
    status, account_id, text = result(browser)
    assert status == "error", text
    assert not account_id
    lowered = text.lower()
    assert "scope" in lowered, text
    assert "app connection" in lowered, text
    assert service.linked_account_ids() == before


def test_a_custom_scope_the_app_connection_does_not_allow_is_refused(
    browser, emulator, service, oauth_app
):
    oauth_app(APP_SCOPES, ["all-apis"], custom=["unity-catalog"])
    before = service.linked_account_ids()
    start_oauth(browser, service)
    status, account_id, text = result(browser)
    assert status == "error", text
    assert "scope" in text.lower(), text
    assert service.linked_account_ids() == before


def test_a_used_connect_link_cannot_be_used_again(browser, emulator, service):
    session = service.connect_session(end_user_ref="single-use")
    browser.get(session["connect_url"])
    submit_api_key(browser, emulator.url, emulator.token)
    status, account_id, text = result(browser)
    assert status == "success", text
    after_first = service.linked_account_ids()

    # Opening the link again: either the page refuses at once, or its form does on submit.
    browser.get(session["connect_url"])
    try:
        browser.find_element(By.ID, "api-key-form")
    except NoSuchElementException:
        pass
    else:
        submit_api_key(browser, emulator.url, emulator.token)
    status, again, text = result(browser)
    assert status == "error", text
    assert not again
    assert service.linked_account_ids() == after_first
