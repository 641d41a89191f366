"""Live: the real `pixy serve` driven by headless Chromium through login and consent, then the
code redeemed with the verifier, and the JWT verified against the published JWKS."""
import base64
import hashlib
import http.server
import json
import os
import secrets
import threading
import urllib.parse as up
from pathlib import Path

import httpx
import jwt
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PASSWORD, REPO, TIMEOUT

ARTIFACTS = REPO / "tests" / "e2e" / "artifacts"


class CaptureHandler(http.server.BaseHTTPRequestHandler):
    """The 'native app' loopback listener: records the redirect it receives."""
    received: list[str] = []

    def do_GET(self):
        if self.path.startswith("/callback"):
            CaptureHandler.received.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body><h1>Signed in. You can close this window.</h1></body></html>")

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_listener():
    CaptureHandler.received = []
    httpd = http.server.HTTPServer(("127.0.0.1", 0), CaptureHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def make_driver(javascript: bool) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,900"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    service = Service(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def pkce_pair():
    verifier = secrets.token_urlsafe(48)[:64]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.mark.parametrize("javascript", [False, True], ids=["no-javascript", "javascript"])
def test_browser_login_consent_and_token(server, loopback_listener, javascript):
    """RFC 6749 §4.1 + RFC 7636 in a real browser: the pages work without JavaScript, follow the
    form contract, and the redirect reaches the loopback port the app chose (RFC 8252 §7.3)."""
    verifier, challenge = pkce_pair()
    redirect_uri = f"http://127.0.0.1:{loopback_listener}/callback"
    state = "st-" + secrets.token_urlsafe(8)
    query = up.urlencode({
        "response_type": "code", "client_id": "web-app", "redirect_uri": redirect_uri, "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256", "scope": "read",
        "resource": "https://mcp.example.com/mcp",
    })
    driver = make_driver(javascript)
    ARTIFACTS.mkdir(exist_ok=True)
    suffix = "js" if javascript else "nojs"
    try:
        driver.get(f"{server.base}/authorize?{query}")
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.NAME, "username"))
        assert "Example &lt;Web&gt; App" in driver.page_source or "Example <Web> App" in driver.find_element(By.TAG_NAME, "main").text
        driver.save_screenshot(str(ARTIFACTS / f"login-{suffix}.png"))
        driver.find_element(By.NAME, "username").send_keys("alice")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=decision][value=approve]"))
        main = driver.find_element(By.TAG_NAME, "main").text
        assert "Example <Web> App" in main            # name shown, escaped in HTML
        assert f"127.0.0.1:{loopback_listener}" in main  # the redirect host (SECURITY.md §7)
        assert "read" in main and "https://mcp.example.com/mcp" in main
        driver.save_screenshot(str(ARTIFACTS / f"consent-{suffix}.png"))
        driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=approve]").click()

        WebDriverWait(driver, TIMEOUT).until(lambda d: d.current_url.startswith(redirect_uri))
    finally:
        driver.quit()

    assert len(CaptureHandler.received) == 1
    params = {k: v[0] for k, v in up.parse_qs(up.urlparse(CaptureHandler.received[0]).query).items()}
    assert params["state"] == state
    assert params["iss"] == server.base  # RFC 9207

    token = httpx.post(f"{server.base}/token", data={
        "grant_type": "authorization_code", "code": params["code"], "code_verifier": verifier,
        "client_id": "web-app", "redirect_uri": redirect_uri,
    }, timeout=TIMEOUT)
    assert token.status_code == 200, token.text
    assert token.headers["cache-control"] == "no-store"
    access_token = token.json()["access_token"]

    header = jwt.get_unverified_header(access_token)
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256"
    jwks = httpx.get(f"{server.base}/jwks.json", timeout=TIMEOUT).json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(access_token, jwt.PyJWK(key).key, algorithms=["ES256"], audience="https://mcp.example.com/mcp",
                        issuer=server.base)
    assert claims["client_id"] == "web-app" and claims["scope"] == "read"
    for claim in ("sub", "iat", "exp", "jti"):
        assert claim in claims

    replay = httpx.post(f"{server.base}/token", data={
        "grant_type": "authorization_code", "code": params["code"], "code_verifier": verifier, "client_id": "web-app"}, timeout=TIMEOUT)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert params["code"] not in server.output() and verifier not in server.output()


def test_browser_deny(server, loopback_listener):
    """RFC 6749 §4.1.2.1: Deny in the browser sends access_denied with state and iss."""
    _, challenge = pkce_pair()
    redirect_uri = f"http://127.0.0.1:{loopback_listener}/callback"
    query = up.urlencode({"response_type": "code", "client_id": "web-app", "redirect_uri": redirect_uri, "state": "s",
                          "code_challenge": challenge, "code_challenge_method": "S256"})
    driver = make_driver(javascript=False)
    try:
        driver.get(f"{server.base}/authorize?{query}")
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.NAME, "username"))
        driver.find_element(By.NAME, "username").send_keys("alice")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=decision][value=deny]"))
        driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=deny]").click()
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.current_url.startswith(redirect_uri))
    finally:
        driver.quit()
    params = {k: v[0] for k, v in up.parse_qs(up.urlparse(CaptureHandler.received[0]).query).items()}
    assert params["error"] == "access_denied" and params["state"] == "s" and params["iss"] == server.base
    assert "code" not in params


def test_browser_error_page_for_unregistered_redirect(server):
    """SECURITY.md §1.3: an unregistered redirect URI shows an error page and never navigates away."""
    _, challenge = pkce_pair()
    query = up.urlencode({"response_type": "code", "client_id": "web-app", "redirect_uri": "https://evil.example/cb",
                          "code_challenge": challenge, "code_challenge_method": "S256"})
    driver = make_driver(javascript=True)
    try:
        driver.get(f"{server.base}/authorize?{query}")
        assert driver.current_url.startswith(server.base)
        assert "cannot continue" in driver.find_element(By.TAG_NAME, "h1").text
        driver.save_screenshot(str(ARTIFACTS / "error.png"))
    finally:
        driver.quit()
