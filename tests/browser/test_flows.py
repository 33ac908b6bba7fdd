"""The flows run-history pages in a real browser: an operator signs in with the operator key,
opens a failed run, sees the failed step and its error, fixes the cause in the workspace, clicks
Replay and sees the new run succeed without repeating the step that had succeeded; then cancels
a run that waits.
"""

import time

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import API_KEY, TOKEN

WAIT = 20


def wait_for(browser, by, value):
    return WebDriverWait(browser, WAIT).until(EC.presence_of_element_located((by, value)))


def run_status(service, run_id):
    _, run = service.api("GET", f"/api/v1/flow-runs/{run_id}", expect=200)
    return run["status"]


def wait_run(service, run_id, want):
    deadline = time.time() + WAIT
    while time.time() < deadline:
        if run_status(service, run_id) == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} is {run_status(service, run_id)}, not {want}")


def page_status(browser, url, want):
    """Reloads `url` until its run is `want` (the page has no script, so it does not refresh)."""
    deadline = time.time() + WAIT
    while True:
        browser.get(url)
        status = wait_for(browser, By.ID, "run").get_attribute("data-status")
        if status == want or time.time() > deadline:
            return status
        time.sleep(0.2)


CATALOG = "flows_browser_suite"


def test_an_operator_replays_a_failed_run_and_cancels_a_waiting_one(browser, emulator, service):
    _, account = service.api(
        "POST",
        "/api/v1/linked-accounts",
        {"workspace_url": emulator.url, "token": TOKEN, "display_name": "flows workspace"},
        expect=201,
    )
    _, flow = service.api(
        "POST",
        "/api/v1/flows",
        {
            "name": "users then a catalog",
            "account": account["id"],
            "trigger": {"type": "manual"},
            "steps": [
                {"id": "users", "action": "list-users", "input": {}},
                {"id": "catalog", "action": "retrieve-catalog", "input": {"name": CATALOG}},
            ],
        },
        expect=201,
    )
    _, run = service.api("POST", f"/api/v1/flows/{flow['id']}/runs", {"why": "browser"}, expect=201)
    wait_run(service, run["id"], "failed")

    # signing in
    browser.get(service.url + "/ui/flows")
    key = wait_for(browser, By.ID, "key")
    key.send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(browser, By.ID, "flows")
    assert "users then a catalog" in browser.find_element(By.ID, "flows").text
    browser.find_element(By.LINK_TEXT, "users then a catalog").click()
    wait_for(browser, By.ID, "runs").find_element(By.LINK_TEXT, run["id"]).click()

    # the failed run: which step, with what error
    assert wait_for(browser, By.ID, "run").get_attribute("data-status") == "failed"
    users = browser.find_element(By.CSS_SELECTOR, ".step[data-path=users]")
    assert users.get_attribute("data-status") == "succeeded"
    catalog = browser.find_element(By.CSS_SELECTOR, ".step[data-path=catalog]")
    assert catalog.get_attribute("data-status") == "failed"
    assert "NOT_FOUND" in catalog.text
    outcome = browser.find_element(By.ID, "outcome").text
    assert "Failed at step catalog" in outcome, outcome
    # the session cookie is a signed expiry, never the operator key itself
    assert all(API_KEY not in c["value"] for c in browser.get_cookies()), browser.get_cookies()
    users_started = users.find_elements(By.TAG_NAME, "td")[3].text

    # the cause is fixed (the catalog exists now); Replay starts a new run from the failed step
    emulator.call("POST", "/api/2.1/unity-catalog/catalogs", {"name": CATALOG})
    browser.find_element(By.CSS_SELECTOR, "button[name=replay]").click()
    wait_for(browser, By.ID, "run")
    replay_url = browser.current_url
    assert run["id"] not in replay_url
    assert page_status(browser, replay_url, "succeeded") == "succeeded"
    assert "replay of" in browser.find_element(By.ID, "run").text
    replayed_users = browser.find_elements(By.CSS_SELECTOR, ".step[data-path=users]")
    assert len(replayed_users) == 1
    assert replayed_users[0].find_elements(By.TAG_NAME, "td")[3].text == users_started
    assert browser.find_element(By.CSS_SELECTOR, ".step[data-path=catalog]").get_attribute(
        "data-status"
    ) == "succeeded"

    # a waiting run is cancelled from its page
    _, waits = service.api(
        "POST",
        "/api/v1/flows",
        {"name": "waits", "trigger": {"type": "manual"}, "steps": [{"id": "long", "wait": {"seconds": 3600}}]},
        expect=201,
    )
    _, waiting = service.api("POST", f"/api/v1/flows/{waits['id']}/runs", {}, expect=201)
    wait_run(service, waiting["id"], "running")
    browser.get(f"{service.url}/ui/flow-runs/{waiting['id']}")
    wait_for(browser, By.CSS_SELECTOR, "button[name=cancel]").click()
    wait_for(browser, By.ID, "run")
    wait_run(service, waiting["id"], "cancelled")
    assert page_status(browser, f"{service.url}/ui/flow-runs/{waiting['id']}", "cancelled") == "cancelled"
    assert not browser.find_elements(By.CSS_SELECTOR, "button[name=cancel]")
    assert API_KEY not in browser.page_source
