"""Signing in through an upstream identity provider (docs/federation.md), with the real `pixy`
binary: a real OpenID provider (glewlwyd) driven by headless Chromium for the whole MCP flow, and
small fake providers for every rule the callback enforces (state bound to the browser and used
once, mix-up, RFC 9207 `iss`, the ID token's checks, upstream errors and timeouts), and for the
plain OAuth 2 (GitHub-shaped) mode."""
import asyncio
import base64
import hashlib
import json
import re
import secrets
import subprocess
import urllib.parse as up
from pathlib import Path

import httpx
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PASSWORD, TIMEOUT, PixyServer, free_port, pixy_binary, query_of, run_cli
from test_browser import make_driver
from test_mcp import CALLBACK, ExampleServer, MemoryStorage, jwt_claims, mcp_session_run
from upstreams import FakeUpstream, Glewlwyd


def write_upstreams(path: Path, providers: list[dict], password_login: bool = True) -> Path:
    path.write_text(json.dumps({"providers": providers, "password_login": password_login}))
    return path


class ChromiumSignIn:
    """The MCP SDK's redirect handler: opens the authorization URL in Chromium and goes through
    Pixy's login page (the provider's button), glewlwyd's own login page, and Pixy's consent page,
    until the browser reaches the client's callback. Records what Pixy's pages said."""

    def __init__(self, driver, glewlwyd: Glewlwyd, pixy_base: str):
        self.driver = driver
        self.glewlwyd = glewlwyd
        self.pixy_base = pixy_base
        self.consent_pages: list[str] = []
        self.login_pages: list[str] = []

    def _changed_page(self, button) -> None:
        self.driver.execute_script("window.pixyTestPreviousPage = true")
        button.click()
        WebDriverWait(self.driver, 60, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return document.readyState === 'complete' && !window.pixyTestPreviousPage"))

    def authorize(self, url: str) -> str:
        driver = self.driver
        driver.get(url)
        for _ in range(8):
            if driver.current_url.startswith(CALLBACK):
                return driver.current_url
            if driver.current_url.startswith(self.glewlwyd.base):
                self.glewlwyd.sign_in(driver)
                WebDriverWait(driver, 60).until(lambda d: d.current_url.startswith(self.pixy_base) or d.current_url.startswith(CALLBACK))
                continue
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button[name=provider], button[name=decision]"))
            if driver.find_elements(By.CSS_SELECTOR, "button[name=provider]"):
                alerts = driver.find_elements(By.CSS_SELECTOR, "[role=alert]")
                assert not alerts, f"the login page says: {alerts[0].text}"
                self.login_pages.append(driver.page_source)
                button = driver.find_element(By.CSS_SELECTOR, "button[name=provider][value=glewlwyd]")
                driver.execute_script("window.pixyTestPreviousPage = true")
                button.click()
                WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(
                    lambda d: not d.current_url.startswith(self.pixy_base + "/login"))
            else:
                self.consent_pages.append(driver.find_element(By.TAG_NAME, "main").text)
                self._changed_page(driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=approve]"))
        raise AssertionError(f"never reached the client's callback: {driver.current_url}\n{driver.page_source[:500]}")


def test_mcp_client_signs_in_through_glewlwyd_consents_at_pixy_calls_a_tool_and_refreshes(data_dir, tmp_path):
    """The whole federated flow: the Python MCP SDK registers with Pixy (RFC 7591), the user signs
    in at glewlwyd (a real OpenID provider) in headless Chromium, approves at Pixy, calls a tool,
    refreshes after the access token expires, and steps up. The MCP client only ever holds Pixy's
    tokens, with Pixy's `aud` for the MCP server."""
    glewlwyd = Glewlwyd(tmp_path / "glewlwyd").start()
    pixy_port = free_port()
    pixy_base = f"http://127.0.0.1:{pixy_port}"
    glewlwyd.provision(redirect_uri=f"{pixy_base}/upstream/glewlwyd/callback")
    secret_file = tmp_path / "glewlwyd-secret"
    secret_file.write_text(glewlwyd.client_secret + "\n")
    upstreams = write_upstreams(tmp_path / "upstreams.json", [{
        "id": "glewlwyd", "name": "Glewlwyd", "issuer": glewlwyd.issuer, "client_id": glewlwyd.client_id,
        "client_secret_file": str(secret_file), "client_auth": "client_secret_basic", "scopes": ["openid"],
        "allow": {"anyone": True}}], password_login=False)
    pixy = PixyServer(data_dir, port=pixy_port, extra=("--upstreams", str(upstreams), "--access-token-ttl", "5")).start()
    example = ExampleServer(tmp_path, issuer=pixy.base).start()
    driver = make_driver(javascript=True)
    try:
        browser = ChromiumSignIn(driver, glewlwyd, pixy.base)
        storage = MemoryStorage()
        report = asyncio.run(mcp_session_run(example.url, browser, storage))
        users = run_cli(data_dir, "users", "list")
    finally:
        driver.quit()
        example.stop()
        pixy.stop()
        glewlwyd.stop()
    assert report["whoami"].startswith("user ") and "scopes read" in report["whoami"]
    assert report["refreshed"], "the SDK refreshed the expired access token (and the refresh token rotated)"
    assert report["authorizations_after_refresh"] == report["authorizations"], "a refresh, not a new sign-in"
    assert report["step_up"] == "saved note 1"
    # The login page offered the provider and, with password sign-in off, no password form.
    assert browser.login_pages and all('name="password"' not in page for page in browser.login_pages)
    assert "Continue with Glewlwyd" in browser.login_pages[0]
    # Consent at Pixy for the dynamically registered client, every time, naming the upstream account.
    assert len(browser.consent_pages) == 2, "consent for the sign-in and again for the step-up"
    assert "alice@example.com (Glewlwyd)" in browser.consent_pages[0]
    assert "registered itself" in browser.consent_pages[0]
    # Pixy's own token, for the MCP server: never glewlwyd's.
    claims = jwt_claims(storage.tokens.access_token)
    assert claims["iss"] == pixy.base and claims["aud"] == example.url
    for location in report["locations"]:
        assert query_of(location)["iss"] == pixy.base
    # One Pixy user, keyed by (provider, subject), shown with how it signs in.
    [line] = [line for line in users.splitlines() if line.startswith("@")]
    assert line.startswith("@glewlwyd:") and "sign-in=upstream:glewlwyd" in line and "email=alice@example.com" in line
    assert claims["sub"] in line
    assert glewlwyd.client_secret not in pixy.output()


# --- The rules of the callback, against fake providers -------------------------------------------

BEHAVIOURS = ["good", "iss", "stale-auth-time", "wrong-aud", "wrong-nonce", "forged-signature", "hs256", "alg-none", "expired",
              "wrong-issuer-claim", "wrong-iss-param", "iss-missing", "access-denied", "token-hangs", "discovery-down"]


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """One Pixy with a fake provider per behaviour, a GitHub-shaped one, and providers with
    access rules; user alice for the password form."""
    directory = tmp_path_factory.mktemp("federation")
    data = directory / "pixy-data"
    data.mkdir()
    fakes = {name: FakeUpstream(behaviour=name.replace("-", "_") if name != "iss" else "good", sends_iss=name == "iss").start()
             for name in BEHAVIOURS}
    fakes["gh"] = FakeUpstream(github=True).start()
    fakes["domain"] = FakeUpstream().start()
    fakes["claims"] = FakeUpstream().start()
    fakes["existing"] = FakeUpstream().start()
    entries = [fakes[name].provider_entry(name) for name in [*BEHAVIOURS, "gh"]]
    entries.append(fakes["domain"].provider_entry("domain", email_domains=["other.example"]))
    entries.append(fakes["claims"].provider_entry("claims", claims={"email": "alice@example.com"}))
    entries.append(fakes["existing"].provider_entry("existing", existing_users_only=True))
    upstreams = write_upstreams(directory / "upstreams.json", entries)
    run_cli(data, "users", "add", "alice", "--password-stdin", "--create", stdin=PASSWORD + "\n")
    run_cli(data, "clients", "add", "--client-id", "web-app", "--redirect-uri", "http://127.0.0.1/callback", "--name", "Web App")
    pixy = PixyServer(data, extra=("--upstreams", str(upstreams))).start()
    yield pixy, fakes, data
    pixy.stop()
    for fake in fakes.values():
        fake.stop()
    for fake in fakes.values():
        assert fake.client_secret not in pixy.output()


def begin(pixy, provider: str, **extra: str) -> tuple[httpx.Client, str, str]:
    """A browser (httpx, keeping Pixy's cookie) starts an authorization request for web-app and
    presses the provider's button. Returns the browser, the upstream authorization URL, and the
    `state` of the request to Pixy."""
    browser = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(8)
    query = up.urlencode({"response_type": "code", "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback",
                          "code_challenge": challenge, "code_challenge_method": "S256", "state": state, "scope": "read", **extra})
    start = browser.get(pixy.base + "/authorize?" + query)
    assert start.status_code == 303, start.text
    page = browser.get(pixy.base + start.headers["location"])
    assert f'value="{provider}"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)" class="providers"', page.text).group(1).replace("&amp;", "&")
    pressed = browser.post(pixy.base + action, data={"csrf_token": csrf, "provider": provider})
    assert pressed.status_code == 303, pressed.text
    return browser, pressed.headers["location"], state


def upstream_answer(authorization_url: str) -> str:
    """What the provider sends the browser back with (its redirect to Pixy's callback)."""
    answer = httpx.get(authorization_url, follow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 302
    return answer.headers["location"]


def signed_in(response: httpx.Response) -> bool:
    """Whether the callback signed the user in: it moves on to the consent page."""
    return response.status_code == 303 and response.headers["location"].startswith("/consent?tx=")


def refused(response: httpx.Response) -> bool:
    """An error page, and nobody signed in."""
    return response.status_code in (400, 403) and "<html" in response.text and "set-cookie" not in response.headers


def test_oidc_sign_in_at_a_provider_reaches_consent_naming_the_account(federation):
    pixy, fakes, _ = federation
    browser, url, _ = begin(pixy, "good")
    request = query_of(url)
    assert url.startswith(fakes["good"].base + "/authorize?")
    assert request["redirect_uri"] == pixy.base + "/upstream/good/callback"
    assert request["code_challenge_method"] == "S256" and len(request["code_challenge"]) == 43
    assert request["nonce"] and request["state"] and request["scope"] == "openid email profile"
    response = browser.get(upstream_answer(url))
    assert signed_in(response), response.text
    consent = browser.get(pixy.base + response.headers["location"])
    assert "bob@example.com (Fake good)" in consent.text
    # Pixy authenticated at the provider's token endpoint with the verifier of this request.
    token_request = [r for r in fakes["good"].requests if r[0] == "POST"][-1][2]
    assert token_request["authorization"].startswith("Basic ") and token_request["code_verifier"]


def test_state_is_bound_to_the_browser_that_started_the_sign_in(federation):
    """Another browser presenting the provider's answer (login CSRF, a stolen response) signs
    nobody in, even with a sign-in of its own waiting; and it cannot spend the victim's state:
    the browser that started the sign-in still finishes it."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "good")
    callback = upstream_answer(url)
    assert refused(httpx.Client(follow_redirects=False, timeout=TIMEOUT).get(callback)), "no session at all"
    attacker, _, _ = begin(pixy, "good")
    assert refused(attacker.get(callback)), "a session of its own"
    assert signed_in(browser.get(callback))


def test_state_is_used_once(federation):
    """A state is spent by the first answer that presents it, even one that failed: here a forged
    code the provider refuses. The genuine answer after it is refused too."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "good")
    callback = upstream_answer(url)
    forged = browser.get(re.sub(r"code=[^&]+", "code=forged", callback))
    assert forged.status_code == 303 and "error=upstream_failed" in forged.headers["location"]
    assert refused(browser.get(callback)), "the state was spent by the first answer"
    browser, url, _ = begin(pixy, "good")
    callback = upstream_answer(url)
    assert signed_in(browser.get(callback))
    assert refused(browser.get(callback)), "a replayed answer is refused"
    assert refused(browser.get(re.sub(r"state=[^&]+", "state=forged", callback))), "an unknown state is refused"


def test_the_provider_button_needs_the_pages_csrf_token(federation):
    """docs/security.md §8: a cross-site form cannot start a sign-in at a provider in the user's
    browser; without the page's token the user is back on the login page."""
    pixy, fakes, _ = federation
    browser = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
    start = browser.get(pixy.base + "/authorize?" + up.urlencode({
        "response_type": "code", "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}))
    login = start.headers["location"]
    action = login.replace("/login?", "/login/upstream?")
    for data in ({"provider": "good"}, {"provider": "good", "csrf_token": "forged"}):
        pressed = browser.post(pixy.base + action, data=data)
        assert pressed.status_code == 303 and "error=expired" in pressed.headers["location"], pressed.headers.get("location")
    page = browser.get(pixy.base + login)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    unknown = browser.post(pixy.base + action, data={"provider": "nobody", "csrf_token": csrf})
    assert unknown.status_code == 303 and "error=upstream_failed" in unknown.headers["location"]


def test_a_state_is_never_a_transaction_id(federation):
    """The copy of the waiting request kept under the state cannot be driven through the login or
    consent pages as a second request of its own."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "good")
    state = query_of(url)["state"]
    for tx in (state, "upstream-state:" + state):
        page = browser.get(pixy.base + "/login", params={"tx": tx})
        assert page.status_code == 400 and "expired" in page.text


def test_prompt_login_asks_the_provider_for_a_fresh_sign_in_and_checks_auth_time(federation):
    """OpenID Connect Core §3.1.2.1: a client's prompt=login becomes prompt=login and max_age=0
    at the provider, and an ID token whose auth_time predates the request signs nobody in."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "good", prompt="login")
    assert query_of(url)["prompt"] == "login" and query_of(url)["max_age"] == "0"
    assert signed_in(browser.get(upstream_answer(url)))
    browser, url, _ = begin(pixy, "stale-auth-time")
    assert "prompt" not in query_of(url)
    assert signed_in(browser.get(upstream_answer(url))), "without prompt=login an earlier sign-in at the provider is fine"
    browser, url, _ = begin(pixy, "stale-auth-time", prompt="login")
    assert refused(browser.get(upstream_answer(url)))


def test_mix_up_an_answer_for_provider_a_at_provider_bs_callback_is_refused(federation):
    """RFC 9700 §4.4: each provider has its own callback; an answer that arrives at another
    provider's callback is refused and its state is burnt."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "good")
    callback = upstream_answer(url)
    elsewhere = callback.replace("/upstream/good/callback", "/upstream/gh/callback")
    assert refused(browser.get(elsewhere))
    assert refused(browser.get(callback)), "the state is burnt after a mix-up attempt"


def test_rfc9207_iss_must_name_the_provider(federation):
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "iss")
    callback = upstream_answer(url)
    assert query_of(callback)["iss"]
    assert signed_in(browser.get(callback)), "the right iss is accepted"
    browser, url, _ = begin(pixy, "wrong-iss-param")
    assert refused(browser.get(upstream_answer(url))), "an iss naming another issuer is refused"
    browser, url, _ = begin(pixy, "iss-missing")
    callback = upstream_answer(url)
    assert "iss" not in query_of(callback)
    assert refused(browser.get(callback)), "iss missing from a provider that says it sends it"


@pytest.mark.parametrize("behaviour", ["wrong-aud", "wrong-nonce", "forged-signature", "hs256", "alg-none", "expired",
                                       "wrong-issuer-claim"])
def test_an_id_token_that_fails_a_check_signs_nobody_in(federation, behaviour):
    """OpenID Connect Core §3.1.3.7: signature under an allowed algorithm with the provider's
    key, iss, aud, exp/iat and nonce; each bent once."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, behaviour)
    response = browser.get(upstream_answer(url))
    assert refused(response), response.text[:300]
    assert "could not be verified" in response.text


def test_access_denied_at_the_provider_goes_back_to_the_application(federation):
    pixy, _, _ = federation
    browser, url, state = begin(pixy, "access-denied")
    response = browser.get(upstream_answer(url))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1/callback?")
    assert query_of(location) == {"error": "access_denied", "error_description": query_of(location)["error_description"],
                                  "state": state, "iss": pixy.base}


def test_a_provider_that_does_not_answer_ends_in_a_clear_page_not_a_hang(federation):
    """The token endpoint never answers: after the connector's deadline the user is back on the
    login page with a message (the deadline only bounds the wait; nothing here is timed)."""
    pixy, _, _ = federation
    browser, url, _ = begin(pixy, "token-hangs")
    response = browser.get(upstream_answer(url))
    assert response.status_code == 303 and "error=upstream_unavailable" in response.headers["location"]
    page = browser.get(pixy.base + response.headers["location"])
    assert "could not be reached" in page.text


def test_a_provider_that_is_down_leaves_the_user_on_the_login_page(federation):
    pixy, _, _ = federation
    browser = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
    start = browser.get(pixy.base + "/authorize?" + up.urlencode({
        "response_type": "code", "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}))
    page = browser.get(pixy.base + start.headers["location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)" class="providers"', page.text).group(1).replace("&amp;", "&")
    pressed = browser.post(pixy.base + action, data={"csrf_token": csrf, "provider": "discovery-down"})
    assert pressed.status_code == 303 and "error=upstream_unavailable" in pressed.headers["location"]


def test_github_shaped_plain_oauth2_provider_signs_in_by_its_numeric_id(federation):
    pixy, fakes, data = federation
    browser, url, _ = begin(pixy, "gh")
    request = query_of(url)
    assert url.startswith(fakes["gh"].base + "/login/oauth/authorize?") and "nonce" not in request
    response = browser.get(upstream_answer(url))
    assert signed_in(response), response.text
    consent = browser.get(pixy.base + response.headers["location"])
    assert "bob@example.com (Fake gh)" in consent.text
    users = run_cli(data, "users", "list")
    assert any(line.startswith("@gh:4242\t") and "sign-in=upstream:gh" in line for line in users.splitlines()), users


def test_access_rules_domains_claims_and_existing_users_only(federation):
    pixy, _, data = federation
    browser, url, _ = begin(pixy, "domain")
    response = browser.get(upstream_answer(url))
    assert response.status_code == 303 and "error=not_allowed" in response.headers["location"], "bob@example.com is not other.example"
    browser, url, _ = begin(pixy, "claims")
    response = browser.get(upstream_answer(url))
    assert response.status_code == 303 and "error=not_allowed" in response.headers["location"], "email claim is not alice's"
    browser, url, _ = begin(pixy, "existing")
    response = browser.get(upstream_answer(url))
    assert response.status_code == 303 and "error=not_allowed" in response.headers["location"], "not pre-created"
    run_cli(data, "users", "add-upstream", "--provider", "existing", "--subject", "fake-user-1")
    browser, url, _ = begin(pixy, "existing")
    assert signed_in(browser.get(upstream_answer(url))), "pre-created by (provider, subject)"


def test_the_password_form_never_signs_in_an_upstream_user(federation):
    """An upstream user has no password: the form refuses their name whatever is typed, and local
    usernames cannot take the `@` namespace."""
    pixy, _, data = federation
    browser, url, _ = begin(pixy, "good")
    assert signed_in(browser.get(upstream_answer(url)))
    client = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
    start = client.get(pixy.base + "/authorize?" + up.urlencode({
        "response_type": "code", "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"}))
    page = client.get(pixy.base + start.headers["location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form method="post" action="(/login[^"]*)">', page.text).group(1).replace("&amp;", "&")
    response = client.post(pixy.base + action, data={"csrf_token": csrf, "username": "@good:fake-user-1", "password": ""})
    assert response.status_code == 303 and "error=invalid" in response.headers["location"]
    result = subprocess.run(
        [str(pixy_binary()), "users", "add", "@good:x", "--password-stdin", "--data-dir", str(data)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "upstream identities" in result.stderr
