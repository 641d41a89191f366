"""Live: the connected-apps page (docs/operations.md, "Connected apps") on the real binary. A user
signs in at /account/apps in headless Chromium, sees the applications they approved, revokes one,
and that application's refresh fails at once while the other keeps working; `pixy grants list`
shows the same data. The revoke form is CSRF-protected and the page has the pages' header policy."""
import base64
import hashlib
import re
import secrets
import urllib.parse as up

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PASSWORD, TIMEOUT, login_session, query_of, run_cli
from test_browser import make_driver
from test_hardening import is_active, resource_server


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def connect(base: str, client_id: str, redirect_uri: str, resource: str) -> dict:
    """Runs the whole flow for `client_id` with httpx (approving the consent page when shown)."""
    verifier = secrets.token_urlsafe(48)
    query = up.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "read",
                          "code_challenge": s256(verifier), "code_challenge_method": "S256", "resource": resource})
    browser, response = login_session(base, query)
    location = response.headers["location"]
    if "/consent" in location:
        page = browser.get(location)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        location = browser.post(action, data={"csrf_token": csrf, "decision": "approve"}).headers["location"]
    code = query_of(location)["code"]
    answer = httpx.post(f"{base}/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                               "client_id": client_id, "redirect_uri": redirect_uri}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh(base: str, client_id: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id},
                      timeout=TIMEOUT)


def test_a_user_revokes_an_app_in_chromium_and_its_refresh_fails_at_once(server):
    auth = resource_server(server.data_dir)
    web = connect(server.base, "web-app", "http://127.0.0.1/callback", "https://mcp.example.com/mcp")
    bench = connect(server.base, "bench-client", "http://127.0.0.1:9999/cb", "https://notes.example.com/mcp")

    driver = make_driver(javascript=False)
    try:
        driver.get(f"{server.base}/account/apps")
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.NAME, "username"))
        driver.find_element(By.NAME, "username").send_keys("alice")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "section.app"))
        sections = {s.get_attribute("data-client-id"): s.text for s in driver.find_elements(By.CSS_SELECTOR, "section.app")}
        assert set(sections) == {"web-app", "bench-client"}
        assert "Example <Web> App" in sections["web-app"]          # the name, escaped in the HTML
        assert "127.0.0.1" in sections["web-app"] and "read" in sections["web-app"]
        assert "https://mcp.example.com/mcp" in sections["web-app"]
        assert "Allowed" in sections["web-app"] and "Last used" in sections["web-app"]

        driver.find_element(By.CSS_SELECTOR, "section.app[data-client-id='web-app'] button[type=submit]").click()
        WebDriverWait(driver, TIMEOUT).until(lambda d: "done=revoked" in d.current_url)
        assert "Access revoked" in driver.find_element(By.TAG_NAME, "main").text
        left = [s.get_attribute("data-client-id") for s in driver.find_elements(By.CSS_SELECTOR, "section.app")]
        assert left == ["bench-client"]
    finally:
        driver.quit()

    # At once: the revoked app's refresh token and access token are dead; the other app's live.
    answer = refresh(server.base, "web-app", web["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert not is_active(server.base, web["access_token"], auth)
    assert is_active(server.base, bench["access_token"], auth)
    assert refresh(server.base, "bench-client", bench["refresh_token"]).status_code == 200

    # The operator sees the same data.
    listed = run_cli(server.data_dir, "grants", "list", "--user", "alice")
    web_line = next(line for line in listed.splitlines() if "client=web-app" in line)
    bench_line = next(line for line in listed.splitlines() if "client=bench-client" in line)
    assert "revoked" in web_line and "name=Example <Web> App" in web_line and "redirect-host=127.0.0.1" in web_line
    assert "resource=https://mcp.example.com/mcp" in web_line
    assert bench_line.endswith("active") and "name=Bench" in bench_line


def test_the_account_pages_refuse_forged_forms_and_carry_the_page_headers(server):
    connect(server.base, "web-app", "http://127.0.0.1/callback", "https://mcp.example.com/mcp")
    browser = httpx.Client(base_url=server.base, follow_redirects=False, timeout=TIMEOUT)
    page = browser.get("/account/apps")
    assert page.status_code == 200
    for header, value in (("x-frame-options", "DENY"), ("cache-control", "no-store"), ("referrer-policy", "no-referrer")):
        assert page.headers[header] == value
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    # Signing in without this browser's token is refused; with it, a fresh session.
    forged = browser.post("/account/login", data={"username": "alice", "password": PASSWORD, "csrf_token": "x" * 43})
    assert forged.status_code == 403
    wrong = browser.post("/account/login", data={"username": "alice", "password": "nope", "csrf_token": csrf})
    assert wrong.status_code == 303 and wrong.headers["location"] == "/account/apps?error=invalid"
    before = browser.cookies.get("pixy_session")
    signed_in = browser.post("/account/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account/apps"
    assert browser.cookies.get("pixy_session") != before, "a new session on sign-in (no fixation)"
    apps = browser.get("/account/apps")
    assert 'data-client-id="web-app"' in apps.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', apps.text).group(1)

    # A revoke without the page's token (a cross-site form) changes nothing.
    refused = browser.post("/account/apps/revoke", data={"client_id": "web-app", "csrf_token": csrf})
    assert refused.status_code == 403
    refused = browser.post("/account/apps/revoke", data={"client_id": "web-app"})
    assert refused.status_code == 403
    assert 'data-client-id="web-app"' in browser.get("/account/apps").text
    # Naming an app the user never connected revokes nothing and says so.
    other = browser.post("/account/apps/revoke", data={"client_id": "bench-client", "csrf_token": token})
    assert other.headers["location"] == "/account/apps?done=not_connected"
    done = browser.post("/account/apps/revoke", data={"client_id": "web-app", "csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/account/apps?done=revoked"
    assert 'data-client-id="web-app"' not in browser.get("/account/apps").text
    assert PASSWORD not in server.output()
