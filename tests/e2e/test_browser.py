"""Live: the real `pixy serve` driven by headless Chromium through login and consent, then the
code redeemed with the verifier, and the JWT verified against the published JWKS."""
import base64
import hashlib
import http.server
import json
import os
import subprocess
import secrets
import threading
import urllib.parse as up
from pathlib import Path

import httpx
import jwt
import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PASSWORD, REPO, TIMEOUT, PixyServer, login_session, pixy_binary, run_cli

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


def make_driver(javascript: bool, network_log: bool = False) -> webdriver.Chrome:
    """Headless Chromium. With `network_log`, `driver.get_log("performance")` returns the DevTools
    Network events, so a test can see requests the browser makes on its own (e.g. /favicon.ico)."""
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=900,900"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    if network_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
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
        assert f"127.0.0.1:{loopback_listener}" in main  # the redirect host (docs/security.md §7)
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
    """docs/security.md §1.3: an unregistered redirect URI shows an error page and never navigates away."""
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


# ---------------------------------------------------------------------------------------------
# The pages a newcomer sees: contrast (WCAG 2.x AA, 4.5:1) in both colour schemes, no sideways
# scrolling at 390 px with a 200-character client name, the operator's brand, and axe-core.

LONG_NAME = "Long" + "x" * 196  # 200 characters, no space to break at
# A small SVG logo as a data: URI: the page CSP must admit it (img-src data:) and nothing else.
LOGO = "data:image/svg+xml;base64," + base64.b64encode(
    b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><circle cx="14" cy="14" r="12" fill="#0a58ca"/></svg>').decode()
PHONE_WIDTH = 390

# Every visible element with its own text: its colour and the first opaque background behind it.
TEXT_COLOURS_JS = """
const out = [];
function opaque(c) { return c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c); }
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const style = getComputedStyle(el);
  if (!own || style.visibility === 'hidden' || style.display === 'none' || el.offsetParent === null && style.position !== 'fixed') continue;
  let bg = null;
  for (let n = el; n; n = n.parentElement) { const b = getComputedStyle(n).backgroundColor; if (opaque(b)) { bg = b; break; } }
  out.push({tag: el.tagName, text: el.textContent.trim().slice(0, 40), color: style.color, background: bg || 'rgb(255, 255, 255)'});
}
return out;
"""


def _rgb(css: str) -> tuple[float, float, float]:
    numbers = [float(n) for n in css[css.index("(") + 1:css.index(")")].replace("/", " ").replace(",", " ").split()[:3]]
    return numbers[0], numbers[1], numbers[2]


def _luminance(rgb) -> float:
    def linear(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    a, b = sorted((_luminance(_rgb(first)), _luminance(_rgb(second))), reverse=True)
    return (a + 0.05) / (b + 0.05)


def phone_driver(scheme: str) -> webdriver.Chrome:
    """Headless Chromium as a 390 px wide phone in the `scheme` colour scheme."""
    driver = make_driver(javascript=True)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": PHONE_WIDTH, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    return driver


def check_page(driver, name: str, scheme: str):
    """WCAG 2.x AA on the rendered page: axe-core finds nothing serious or critical, every visible
    text has contrast >= 4.5 against its background, and nothing scrolls sideways at 390 px."""
    assert driver.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
    # A mobile viewport widens itself to content that does not fit, so both widths are checked.
    width, scroll = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
    assert width == PHONE_WIDTH and scroll <= PHONE_WIDTH, \
        f"{name}/{scheme}: at {PHONE_WIDTH} px the page is {scroll} px wide (viewport {width} px): it scrolls sideways"
    for item in driver.execute_script(TEXT_COLOURS_JS):
        ratio = contrast(item["color"], item["background"])
        assert ratio >= 4.5, f"{name}/{scheme}: {item} has contrast {ratio:.2f}:1"
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}/{scheme}: " + axe.report(serious)
    assert results["passes"], "axe ran its rules"


@pytest.fixture
def branded_server(seeded: Path):
    """A server with the operator's brand and a scope description, and a client whose name is 200
    characters without a space."""
    run_cli(seeded, "clients", "add", "--client-id", "long-name-app", "--redirect-uri", "http://127.0.0.1/callback",
            "--name", LONG_NAME)
    running = PixyServer(seeded, extra=("--brand-name", "Acme Notes", "--brand-logo", LOGO,
                                        "--scope-description", "read=Read your notes")).start()
    yield running
    running.stop()


def authorize_url(base: str, client_id: str, redirect_uri: str = "http://127.0.0.1:5555/callback") -> str:
    _, challenge = pkce_pair()
    return f"{base}/authorize?" + up.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s",
        "code_challenge": challenge, "code_challenge_method": "S256", "scope": "read write"})


def test_execute_script_is_not_subject_to_the_page_csp(branded_server):
    """The checks below inject axe with `execute_script` (run through the debugger); the page's
    own CSP still refuses inline scripts (docs/threat-model.md), which this proves alongside."""
    driver = phone_driver("light")
    try:
        driver.get(authorize_url(branded_server.base, "long-name-app"))
        assert driver.execute_script("return 40 + 2") == 42
        driver.execute_script("const s = document.createElement('script'); s.textContent = 'window.inlineRan = true';"
                              "document.body.appendChild(s);")
        assert driver.execute_script("return window.inlineRan === true") is False
        csp = httpx.get(driver.current_url, timeout=TIMEOUT).headers["content-security-policy"]
        assert csp == "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; img-src data:"
    finally:
        driver.quit()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_meet_contrast_and_fit_a_phone(branded_server, scheme):
    """WCAG 2.x AA contrast and no sideways scrolling at 390 px on the login, consent, sign-out,
    error and home pages, in both colour schemes, with a 200-character client name; the brand
    heads each page, apart from the client's name; "Not you?" leads back to sign-in."""
    base = branded_server.base
    driver = phone_driver(scheme)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        driver.get(authorize_url(base, "long-name-app"))
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.NAME, "username"))
        assert driver.find_element(By.CSS_SELECTOR, "header.brand").text == "Acme Notes"
        assert driver.execute_script("const i = document.querySelector('header.brand img'); return i.complete && i.naturalWidth") == 28, \
            "the CSP admits the data: logo"
        assert LONG_NAME in driver.find_element(By.CSS_SELECTOR, "p.lead").text.replace("\n", "")
        check_page(driver, "login", scheme)
        driver.find_element(By.NAME, "username").send_keys("alice")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=decision][value=approve]"))
        assert driver.find_element(By.CSS_SELECTOR, "header.brand").text == "Acme Notes"
        assert "Read your notes" in driver.find_element(By.CSS_SELECTOR, "ul.scopes").text
        assert len(driver.find_elements(By.TAG_NAME, "form")) == 1
        check_page(driver, "consent", scheme)
        driver.save_screenshot(str(ARTIFACTS / f"consent-{PHONE_WIDTH}-{scheme}.png"))

        driver.find_element(By.PARTIAL_LINK_TEXT, "Not you?").click()
        WebDriverWait(driver, TIMEOUT).until(lambda d: "/logout" in d.current_url)
        check_page(driver, "sign-out", scheme)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_elements(By.NAME, "username"))
        assert "/login?tx=" in driver.current_url

        driver.get(authorize_url(base, "web-app", redirect_uri="https://evil.example/cb"))
        assert "cannot continue" in driver.find_element(By.TAG_NAME, "h1").text
        check_page(driver, "error", scheme)
        driver.save_screenshot(str(ARTIFACTS / f"error-{PHONE_WIDTH}-{scheme}.png"))

        driver.get(base + "/")
        assert "Acme Notes" in driver.find_element(By.TAG_NAME, "h1").text
        check_page(driver, "home", scheme)
    finally:
        driver.quit()
    icon = httpx.get(base + "/favicon.ico", timeout=TIMEOUT)
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_scope_description_of_an_unknown_scope_is_refused(data_dir):
    """A description for a scope outside --scopes is a typo: `pixy serve` refuses to start, with
    one line saying which."""
    result = subprocess.run([str(pixy_binary()), "serve", "--data-dir", str(data_dir), "--port", "1",
                             "--scopes", "read write", "--scope-description", "delete=Delete your notes"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and "delete" in error_lines[0] and "--scopes" in error_lines[0], result.stderr


def test_brand_and_scope_descriptions_from_the_environment(seeded, monkeypatch):
    """PIXY_BRAND_NAME and PIXY_SCOPE_DESCRIPTIONS (scope=text;scope=text, quotes optional) reach
    the consent page; a flag for the same scope wins over the environment."""
    monkeypatch.setenv("PIXY_BRAND_NAME", "Env Brand")
    monkeypatch.setenv("PIXY_SCOPE_DESCRIPTIONS", 'read="Read your notes";write=Change your notes')
    running = PixyServer(seeded, extra=("--scope-description", "write=Change or delete your notes")).start()
    try:
        _, challenge = pkce_pair()
        query = up.urlencode({"response_type": "code", "client_id": "web-app", "redirect_uri": "http://127.0.0.1:5555/callback",
                              "code_challenge": challenge, "code_challenge_method": "S256", "scope": "read write"})
        client, login = login_session(running.base, query)
        page = client.get(login.headers["location"]).text
        assert '<header class="brand"><span>Env Brand</span></header>' in page
        assert "<li><code>read</code>: Read your notes</li>" in page
        assert "<li><code>write</code>: Change or delete your notes</li>" in page
        assert page.count("<form") == 1
    finally:
        running.stop()
