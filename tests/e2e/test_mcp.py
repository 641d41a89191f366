"""Live: real MCP clients against the example MCP server protected by Pixy (docs/mcp.md).

Processes: `pixy serve` (SQLite or Redis) and `pixy-example-mcp`. Clients: the Python `mcp` SDK's
OAuthClientProvider (dynamic registration, and its CIMD mode), scripted ChatGPT- and Claude-style
connector setups, and everything again over TLS with a test certificate authority. The login and
consent pages are driven through the README's form contract. Nothing here skips.
"""
import asyncio
import base64
import hashlib
import http.server
import json
import os
import queue
import re
import secrets
import ssl
import subprocess
import threading
import urllib.parse as up
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import PASSWORD, REPO, TIMEOUT, HealthCheckedProcess, PixyServer, free_port, query_of, run_cli, terminate
from test_browser import make_driver
from test_cimd import make_ca_and_leaf

CALLBACK = "http://127.0.0.1:33418/callback"


def example_binary() -> Path:
    path = Path(os.environ.get("PIXY_EXAMPLE_BIN", REPO / ".build" / "debug" / "pixy-example-mcp"))
    assert path.exists(), f"example MCP server not found at {path}: run `swift build` first (scripts/test does)"
    return path


class ExampleServer(HealthCheckedProcess):
    """A running `pixy-example-mcp`."""

    name = "the example MCP server"

    def __init__(self, directory: Path, issuer: str, extra: tuple[str, ...] = (), scheme: str = "http"):
        self.port = free_port()
        super().__init__([str(example_binary()), "--issuer", issuer, "--port", str(self.port), *extra],
                         f"{scheme}://127.0.0.1:{self.port}", directory / f"example-{self.port}.log")
        self.url = self.base + "/mcp"


class Browser:
    """Drives Pixy's authorize, login and consent pages through the documented form contract."""

    def __init__(self, verify=True):
        self.client = httpx.Client(follow_redirects=False, timeout=TIMEOUT, verify=verify)
        self.pages: list[str] = []

    def authorize(self, url: str, decision: str = "approve") -> str:
        """Follows `url` until Pixy redirects to the client; returns that location."""
        response = self.client.get(url)
        origin = f"{up.urlparse(url).scheme}://{up.urlparse(url).netloc}"
        for _ in range(6):
            assert response.status_code in (302, 303), f"{response.status_code}: {response.text[:300]}"
            location = response.headers["location"]
            if not location.startswith("/"):
                return location
            page = self.client.get(origin + location)
            self.pages.append(page.text)
            assert page.status_code == 200, page.text[:300]
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
            if 'name="password"' in page.text:
                response = self.client.post(origin + action, data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})
            else:
                response = self.client.post(origin + action, data={"csrf_token": csrf, "decision": decision})
        raise AssertionError("too many redirects")


class MemoryStorage:
    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def make_provider(server_url: str, browser: Browser, storage: MemoryStorage, client_metadata_url: str | None = None):
    locations: list[str] = []

    async def redirect_handler(url: str) -> None:
        locations.append(await asyncio.to_thread(browser.authorize, url))

    async def callback_handler() -> AuthorizationCodeResult:
        assert locations[-1].startswith(CALLBACK), locations[-1]
        params = query_of(locations[-1])
        assert "code" in params, locations[-1]
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    metadata = OAuthClientMetadata(client_name="pytest MCP client", redirect_uris=[CALLBACK],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                   token_endpoint_auth_method="none")
    provider = OAuthClientProvider(server_url=server_url, client_metadata=metadata, storage=storage,
                                   redirect_handler=redirect_handler, callback_handler=callback_handler,
                                   client_metadata_url=client_metadata_url)
    return provider, locations


def text_of(result) -> str:
    return " ".join(getattr(item, "text", "") for item in result.content)


async def mcp_session_run(server_url: str, browser: Browser, storage: MemoryStorage, verify=True, client_metadata_url=None,
                          access_token_ttl: int = 5) -> dict:
    """The whole dance with the Python SDK: 401 → PRM → AS metadata → DCR (or CIMD) → authorize
    (pages) → token with resource → tools → expiry → refresh → tools → step-up."""
    provider, locations = make_provider(server_url, browser, storage, client_metadata_url)
    report: dict = {}
    async with httpx2.AsyncClient(auth=provider, timeout=TIMEOUT, verify=verify) as http:
        async with streamable_http_client(server_url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                report["tools"] = sorted(tool.name for tool in (await session.list_tools()).tools)
                report["whoami"] = text_of(await session.call_tool("whoami", {}))
                report["first_scope"] = storage.tokens.scope
                first_refresh = storage.tokens.refresh_token
                report["authorizations"] = len(locations)
                # Let the access token expire: the SDK must refresh (rotating the refresh token).
                await asyncio.sleep(access_token_ttl + 1)
                report["after_expiry"] = text_of(await session.call_tool("list_notes", {}))
                report["refreshed"] = storage.tokens.refresh_token != first_refresh
                report["authorizations_after_refresh"] = len(locations)
                # Step-up: add_note needs `write`; the SDK gets 403 insufficient_scope and
                # re-authorizes with the union.
                report["step_up"] = text_of(await session.call_tool("add_note", {"text": "bought milk"}))
                report["final_scope"] = storage.tokens.scope
                report["authorizations_after_step_up"] = len(locations)
                report["notes"] = text_of(await session.call_tool("list_notes", {}))
    report["locations"] = locations
    return report


def seed_user(data_dir: Path, store: str | None, ephemeral: str | None = None) -> None:
    run_cli(data_dir, "users", "add", "alice", "--password-stdin", *(() if store else ("--create",)), stdin=PASSWORD + "\n",
            store=store, ephemeral=ephemeral)


@pytest.fixture(params=["sqlite", "redis", "postgres+memcached"])
def stack(request, data_dir, tmp_path):
    """Pixy (on SQLite, on Redis, or on PostgreSQL with memcached; access tokens of 5 s) and the
    example server."""
    store_args: tuple[str, ...] = ()
    store_url = ephemeral_url = None
    servers = []
    if request.param == "redis":
        from conftest import RedisProcess
        servers.append(RedisProcess(tmp_path / "redis").start())
        store_url = servers[0].url
        store_args = ("--store", store_url)
    elif request.param == "postgres+memcached":
        from conftest import MemcachedProcess, PostgresProcess
        servers += [PostgresProcess().start(), MemcachedProcess().start()]
        store_url, ephemeral_url = servers[0].url, servers[1].url
        store_args = ("--store", store_url, "--ephemeral-store", ephemeral_url)
    seed_user(data_dir, store_url, ephemeral_url)
    pixy = PixyServer(data_dir, extra=(*store_args, "--access-token-ttl", "5")).start()
    example = ExampleServer(tmp_path, issuer=pixy.base).start()
    yield pixy, example
    example.stop()
    pixy.stop()
    for server in servers:
        server.stop()
    assert PASSWORD not in pixy.output()


def test_python_mcp_sdk_dynamic_registration_refresh_and_step_up(stack):
    pixy, example = stack
    # The unauthenticated call: 401 with the PRM URL, as MCP clients discover the issuer from it.
    bare = httpx.post(example.url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                      headers={"Accept": "application/json, text/event-stream"}, timeout=TIMEOUT)
    assert bare.status_code == 401
    assert bare.headers["www-authenticate"].startswith("Bearer ")
    assert f'resource_metadata="{example.base}/.well-known/oauth-protected-resource/mcp"' in bare.headers["www-authenticate"]
    prm = httpx.get(f"{example.base}/.well-known/oauth-protected-resource/mcp", headers={"Origin": "https://claude.ai"}, timeout=TIMEOUT)
    assert prm.json() == {"resource": example.url, "authorization_servers": [pixy.base], "scopes_supported": ["read", "write"],
                          "bearer_methods_supported": ["header"], "resource_name": "Pixy example notes"}
    assert prm.headers["access-control-allow-origin"] == "*"

    storage = MemoryStorage()
    report = asyncio.run(mcp_session_run(example.url, Browser(), storage))
    assert report["tools"] == ["add_note", "list_notes", "whoami"]
    assert report["whoami"].startswith("user ") and "scopes read" in report["whoami"]
    assert report["first_scope"] == "read"
    assert storage.client_info.client_id and not storage.client_info.client_id.startswith("https://"), "registered dynamically"
    assert report["refreshed"], "the SDK refreshed the expired access token (and the refresh token rotated)"
    assert report["after_expiry"] == "no notes yet"
    assert report["authorizations_after_refresh"] == report["authorizations"], "a refresh, not a new login"
    assert report["step_up"] == "saved note 1"
    assert set(report["final_scope"].split()) == {"read", "write"}
    assert report["authorizations_after_step_up"] == report["authorizations"] + 1
    assert "1. bought milk" in report["notes"]
    for location in report["locations"]:
        params = query_of(location)
        assert params["iss"] == pixy.base, "RFC 9207 iss in every authorization response"
    # The token is bound to the MCP server (RFC 8707): it is refused as a token for another resource.
    claims = jwt_claims(storage.tokens.access_token)
    assert claims["aud"] == example.url and claims["iss"] == pixy.base


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class ClientDocument(http.server.BaseHTTPRequestHandler):
    """The CIMD document of the Python client, served over HTTPS with the test CA."""

    def do_GET(self):
        url = f"https://{self.headers['Host']}{self.path}"
        body = json.dumps({"client_id": url, "client_name": "pytest MCP client (CIMD)", "redirect_uris": [CALLBACK],
                           "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
                           "token_endpoint_auth_method": "none"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_python_mcp_sdk_with_a_client_id_metadata_document(data_dir, tmp_path, store):
    ca, cert, key = make_ca_and_leaf(tmp_path)
    redis = None
    store_args: tuple[str, ...] = ()
    if store == "redis":
        from conftest import RedisProcess
        redis = RedisProcess(tmp_path / "redis").start()
        store_args = ("--store", redis.url)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), ClientDocument)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    document_url = f"https://127.0.0.1:{httpd.server_address[1]}/oauth/client.json"
    seed_user(data_dir, redis.url if redis else None)
    pixy = PixyServer(data_dir, extra=(*store_args, "--access-token-ttl", "5", "--cimd-allow-host", "127.0.0.1",
                                       "--cimd-ca-file", str(ca))).start()
    example = ExampleServer(tmp_path, issuer=pixy.base).start()
    try:
        storage = MemoryStorage()
        browser = Browser()
        report = asyncio.run(mcp_session_run(example.url, browser, storage, client_metadata_url=document_url))
        assert storage.client_info.client_id == document_url, "the document URL is the client_id; nothing was registered"
        assert report["refreshed"] and report["step_up"] == "saved note 1"
        assert any("127.0.0.1" in page and "consent" in page.lower() for page in browser.pages), "consent names the document's host"
    finally:
        example.stop()
        pixy.stop()
        httpd.shutdown()
        if redis:
            redis.stop()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def scripted_connector(pixy_base: str, example: ExampleServer, redirect_uri: str, registered_redirect: str,
                       client_name: str, verify=True) -> dict:
    """What a hosted connector does, step by step, with plain HTTP: discover from the MCP server,
    register with token_endpoint_auth_method none, authorize with resource and PKCE, check iss,
    redeem, call the server."""
    http = httpx.Client(timeout=TIMEOUT, verify=verify)
    challenge = http.post(example.url, json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
                          headers={"Accept": "application/json, text/event-stream"})
    assert challenge.status_code == 401
    prm_url = re.search(r'resource_metadata="([^"]+)"', challenge.headers["www-authenticate"]).group(1)
    prm = http.get(prm_url).json()
    issuer = prm["authorization_servers"][0]
    parsed = up.urlparse(issuer)
    metadata = http.get(f"{parsed.scheme}://{parsed.netloc}/.well-known/oauth-authorization-server{parsed.path}").json()
    assert metadata["issuer"] == issuer and "S256" in metadata["code_challenge_methods_supported"]
    registration = http.post(metadata["registration_endpoint"], json={
        "client_name": client_name, "redirect_uris": [registered_redirect], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none"})
    assert registration.status_code == 201, registration.text
    assert registration.headers["cache-control"] == "no-store"
    client_id = registration.json()["client_id"]
    verifier = secrets.token_urlsafe(64)[:64]
    state = secrets.token_urlsafe(16)
    url = metadata["authorization_endpoint"] + "?" + up.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "read",
        "code_challenge": s256(verifier), "code_challenge_method": "S256", "state": state, "resource": prm["resource"]})
    location = Browser(verify=verify).authorize(url)
    assert location.startswith(redirect_uri + "?")
    params = query_of(location)
    assert params["state"] == state
    assert params["iss"] == issuer, "RFC 9207: the connector checks iss"
    tokens = http.post(metadata["token_endpoint"], data={"grant_type": "authorization_code", "code": params["code"],
                                                         "redirect_uri": redirect_uri, "code_verifier": verifier,
                                                         "client_id": client_id, "resource": prm["resource"]})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert jwt_claims(body["access_token"])["aud"] == prm["resource"]
    initialized = http.post(example.url, json={
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": client_name, "version": "1"}}},
        headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {body['access_token']}"})
    assert initialized.status_code == 200, initialized.text
    refreshed = http.post(metadata["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                                            "client_id": client_id})
    assert refreshed.status_code == 200
    return {"client_id": client_id, "tokens": body}


def test_chatgpt_style_connector(stack):
    pixy, example = stack
    redirect = "https://chatgpt.com/connector_platform_oauth_redirect"
    scripted_connector(pixy.base, example, redirect, redirect, "ChatGPT")


def test_claude_style_connectors(stack):
    pixy, example = stack
    web = "https://claude.ai/api/mcp/auth_callback"
    scripted_connector(pixy.base, example, web, web, "Claude")
    # Claude Code registers http://localhost/callback without a port and listens on an ephemeral one.
    ephemeral = f"http://localhost:{free_port()}/callback"
    scripted_connector(pixy.base, example, ephemeral, "http://localhost/callback", "Claude Code")


def token_for(pixy_base: str, resource: str, scope: str) -> str:
    """An access token for `resource` with `scope`, through registration, the pages and PKCE, as a
    hosted connector gets one."""
    redirect = "https://claude.ai/api/mcp/auth_callback"
    http = httpx.Client(timeout=TIMEOUT)
    metadata = http.get(f"{pixy_base}/.well-known/oauth-authorization-server").json()
    client_id = http.post(metadata["registration_endpoint"], json={
        "redirect_uris": [redirect], "token_endpoint_auth_method": "none"}).json()["client_id"]
    verifier = secrets.token_urlsafe(64)[:64]
    url = metadata["authorization_endpoint"] + "?" + up.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": scope,
        "code_challenge": s256(verifier), "code_challenge_method": "S256", "state": "s", "resource": resource})
    code = query_of(Browser().authorize(url))["code"]
    return http.post(metadata["token_endpoint"], data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                                       "code_verifier": verifier, "client_id": client_id}).json()["access_token"]


MCP_HEADERS = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                                                          "clientInfo": {"name": "x", "version": "1"}}}


def test_token_for_another_resource_and_query_string_tokens_are_refused(stack):
    pixy, example = stack
    # A token minted for another resource (aud) is refused by this MCP server.
    token = token_for(pixy.base, "https://other.example/mcp", "read")
    http = httpx.Client(timeout=TIMEOUT)
    wrong = http.post(example.url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    # A token in the query string is never looked at.
    query = http.post(example.url + "?" + up.urlencode({"access_token": token}), json=INITIALIZE, headers=MCP_HEADERS)
    assert query.status_code == 401 and "error=" not in query.headers["www-authenticate"]


def test_everything_over_tls_with_a_test_certificate_authority(data_dir, tmp_path):
    ca, cert, key = make_ca_and_leaf(tmp_path)
    seed_user(data_dir, None)
    verify = ssl.create_default_context(cafile=str(ca))
    pixy = PixyServer(data_dir, extra=("--tls-cert", str(cert), "--tls-key", str(key), "--access-token-ttl", "5"), verify=verify).start()
    pixy_port = pixy.port
    example = ExampleServer(tmp_path, issuer=pixy.base, scheme="https",
                            extra=("--tls-cert", str(cert), "--tls-key", str(key), "--issuer-ca-file", str(ca)))
    example.verify = verify
    example.start()
    try:
        metadata = httpx.get(f"{pixy.base}/.well-known/oauth-authorization-server", verify=verify, timeout=TIMEOUT).json()
        assert metadata["issuer"] == pixy.base and metadata["token_endpoint"].startswith("https://")
        # Plain HTTP to the TLS port is not served.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{pixy_port}/health", timeout=3)
        storage = MemoryStorage()
        report = asyncio.run(mcp_session_run(example.url, Browser(verify=verify), storage, verify=verify))
        assert report["refreshed"] and report["step_up"] == "saved note 1"
        scripted_connector(pixy.base, example, "https://chatgpt.com/connector_platform_oauth_redirect",
                           "https://chatgpt.com/connector_platform_oauth_redirect", "ChatGPT", verify=verify)
    finally:
        example.stop()
        pixy.stop()


def test_behind_a_tls_terminating_proxy_the_issuer_never_follows_forwarded_headers(data_dir):
    seed_user(data_dir, None)
    pixy = PixyServer(data_dir, extra=("--issuer", "https://auth.example.com")).start()
    try:
        forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http",
                  "Forwarded": "host=evil.example;proto=http"}
        metadata = httpx.get(f"{pixy.base}/.well-known/oauth-authorization-server", headers=forged, timeout=TIMEOUT).json()
        assert metadata["issuer"] == "https://auth.example.com"
        assert all(value.startswith("https://auth.example.com/") for key, value in metadata.items() if key.endswith("_endpoint"))
    finally:
        pixy.stop()


class ClientProcess:
    """An example client run as a subprocess, its output (stdout and stderr) read line by line by
    a thread, so that every wait for a line is bounded and a hang becomes a failure."""

    def __init__(self, command: list[str]):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.ended = False
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next_line(self, timeout: float = 120) -> str | None:
        """The next line, or None once the output has ended."""
        if self.ended:
            return None
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output for {timeout} s:\n" + "\n".join(self.lines)) from None
        if line is None:
            self.ended = True
        else:
            self.lines.append(line)
        return line

    def finish(self) -> list[str]:
        """Waits for the end of the output and a zero exit status; returns the output lines."""
        while self.next_line() is not None:
            pass
        assert self.process.wait(timeout=60) == 0, "\n".join(self.lines)
        return self.lines

    def stop(self) -> None:
        terminate(self.process)


def drive_client(command: list[str], verify=True) -> list[str]:
    """Runs an example client, signs in for every AUTHORIZE line it prints, follows the final
    redirect to its loopback port, and returns its output lines."""
    client = ClientProcess(command)
    browser = Browser(verify=verify)
    try:
        while (line := client.next_line()) is not None:
            if line.startswith("AUTHORIZE "):
                location = browser.authorize(line.split(" ", 1)[1].strip())
                assert location.startswith("http://127.0.0.1:"), location
                assert httpx.get(location, timeout=TIMEOUT).status_code == 200
        return client.finish()
    finally:
        client.stop()


README_CLIENT_ARGS = ["--call", "whoami", "--call", 'add_note={"text":"hello"}', "--call", "list_notes"]


def test_readme_walkthrough_with_the_python_example_client(data_dir, tmp_path):
    """The README's five minutes: pixy on its defaults, a user, the example server, and
    Examples/mcp_client.py signing in through the browser (here: this test) on a loopback port."""
    seed_user(data_dir, None)
    pixy = PixyServer(data_dir).start()
    example = ExampleServer(tmp_path, issuer=pixy.base).start()
    try:
        lines = drive_client(["python3", str(REPO / "Examples" / "mcp_client.py"), example.url, "--no-browser",
                              "--call", "whoami", "--call", 'add_note={"text":"from the README"}', "--call", "list_notes"])
        assert "TOOLS add_note list_notes whoami" in lines
        assert any(line.startswith("RESULT whoami user ") for line in lines)
        assert "RESULT add_note saved note 1" in lines
        assert "RESULT list_notes 1. from the README" in lines
        assert sum(line.startswith("AUTHORIZE ") for line in lines) == 2, "sign-in, then step-up for write"
    finally:
        example.stop()
        pixy.stop()


def loopback_responses(driver, port: int, seen: dict[str, int]) -> dict[str, int]:
    """Collects, from Chromium's DevTools Network log, the status of every response the browser
    got from 127.0.0.1:`port`, by path (the log is drained on each read, so `seen` accumulates)."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived":
            url = up.urlparse(message["params"]["response"]["url"])
            if url.hostname == "127.0.0.1" and url.port == port:
                seen[url.path] = message["params"]["response"]["status"]
    return seen


def sign_in_with_chromium(driver, url: str, redirect_uri: str) -> None:
    """Opens the printed sign-in URL and goes through whatever Pixy shows (login, then consent;
    on the step-up the session may skip login) until the browser reaches the client's loopback
    callback (RFC 8252 §7.3)."""
    driver.get(url)
    for _ in range(4):
        WebDriverWait(driver, 60).until(lambda d: d.current_url.startswith(redirect_uri) or d.find_elements(By.NAME, "username")
                                        or d.find_elements(By.CSS_SELECTOR, "button[name=decision][value=approve]"))
        if driver.current_url.startswith(redirect_uri):
            return
        if driver.find_elements(By.NAME, "username"):
            driver.find_element(By.NAME, "username").send_keys("alice")
            driver.find_element(By.NAME, "password").send_keys(PASSWORD)
            button = driver.find_element(By.CSS_SELECTOR, "form button[type=submit]")
        else:
            button = driver.find_element(By.CSS_SELECTOR, "button[name=decision][value=approve]")
        # Mark this document, submit, and wait until the browser shows another one.
        driver.execute_script("window.pixyTestPreviousPage = true")
        button.click()
        WebDriverWait(driver, 60, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return document.readyState === 'complete' && !window.pixyTestPreviousPage"))
    raise AssertionError(f"never reached {redirect_uri}: {driver.current_url}\n{driver.page_source[:500]}")


def test_readme_walkthrough_in_headless_chromium(data_dir, tmp_path):
    """The README's "Protect an MCP server" run of Examples/mcp_client.py, signed in by a real
    browser. Chromium asks the loopback listener for /favicon.ico after the first callback page: the
    listener answers 404 and does not take it (nor a response with a wrong or missing state) for
    the authorization response, so the step-up still finishes."""
    seed_user(data_dir, None)
    pixy = PixyServer(data_dir).start()
    example = ExampleServer(tmp_path, issuer=pixy.base).start()
    client = ClientProcess(["python3", str(REPO / "Examples" / "mcp_client.py"), example.url, "--no-browser", *README_CLIENT_ARGS])
    driver = make_driver(javascript=True, network_log=True)
    authorizations = 0
    try:
        while (line := client.next_line()) is not None:
            if not line.startswith("AUTHORIZE "):
                continue
            authorizations += 1
            url = line.split(" ", 1)[1].strip()
            redirect_uri = query_of(url)["redirect_uri"]
            port = up.urlparse(redirect_uri).port
            if authorizations == 1:
                # Requests that are not this sign-in's response are answered and not taken for it.
                state = query_of(url)["state"]
                assert httpx.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=TIMEOUT).status_code == 404
                assert httpx.get(redirect_uri, params={"code": "forged", "state": state + "x"}, timeout=TIMEOUT).status_code == 400
                assert httpx.get(redirect_uri, params={"code": "forged"}, timeout=TIMEOUT).status_code == 400
            sign_in_with_chromium(driver, url, redirect_uri)
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
            assert driver.find_element(By.TAG_NAME, "h1").text == "Sign-in finished", driver.page_source[:500]
            assert "close this window" in driver.find_element(By.TAG_NAME, "body").text
            if authorizations == 1:
                # Chromium asks the new origin for its icon on its own; wait until it has had the
                # answer (it remembers the failure and does not ask again on the step-up's page).
                seen: dict[str, int] = {}
                WebDriverWait(driver, 60).until(lambda d: "/favicon.ico" in loopback_responses(d, port, seen))
                assert seen == {"/callback": 200, "/favicon.ico": 404}, seen
        lines = client.finish()
    finally:
        driver.quit()
        client.stop()
        example.stop()
        pixy.stop()
    assert authorizations == 2, "sign-in, then step-up for write:\n" + "\n".join(lines)
    assert "TOOLS add_note list_notes whoami" in lines
    assert any(line.startswith("RESULT whoami user ") for line in lines)
    assert "RESULT add_note saved note 1" in lines
    assert lines[-1] == "RESULT list_notes 1. hello", "\n".join(lines)


class FastMCPServer(HealthCheckedProcess):
    """A running Examples/fastmcp_server.py (FastMCP, verifying Pixy's JWTs on its JWKS)."""

    name = "the FastMCP example server"

    def __init__(self, directory: Path, issuer: str):
        self.port = free_port()
        super().__init__(["python3", str(REPO / "Examples" / "fastmcp_server.py"), "--issuer", issuer, "--port", str(self.port)],
                         f"http://127.0.0.1:{self.port}", directory / f"fastmcp-{self.port}.log")
        self.url = self.base + "/mcp"


def mcp_post(url: str, token: str, body: dict, session_id: str | None = None) -> httpx.Response:
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}", "MCP-Protocol-Version": "2025-06-18"}
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return httpx.post(url, json=body, headers=headers, timeout=30)


def rpc_result(response: httpx.Response) -> dict:
    """The JSON-RPC result of a Streamable HTTP answer (plain JSON or one SSE message)."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[len("data:"):] for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])["result"]
    return response.json()["result"]


def test_fastmcp_server_protected_by_pixy(data_dir, tmp_path):
    """docs/mcp.md "Protect a Python MCP server": Examples/fastmcp_server.py (FastMCP's
    RemoteAuthProvider and JWTVerifier on Pixy's JWKS, ES256, aud = its MCP URL) with the Python
    SDK client signing in through Pixy; a token for another resource is refused (RFC 8707)."""
    seed_user(data_dir, None)
    pixy = PixyServer(data_dir).start()
    server = FastMCPServer(tmp_path, issuer=pixy.base).start()
    try:
        bare = httpx.post(server.url, json=INITIALIZE, headers=MCP_HEADERS, timeout=TIMEOUT)
        assert bare.status_code == 401
        assert f'resource_metadata="{server.base}/.well-known/oauth-protected-resource/mcp"' in bare.headers["www-authenticate"]
        prm = httpx.get(f"{server.base}/.well-known/oauth-protected-resource/mcp", timeout=TIMEOUT).json()
        assert prm["resource"] == server.url and prm["authorization_servers"] == [pixy.base]
        assert prm["scopes_supported"] == ["read", "write"]

        lines = drive_client(["python3", str(REPO / "Examples" / "mcp_client.py"), server.url, "--no-browser", *README_CLIENT_ARGS])
        assert "TOOLS add_note list_notes whoami" in lines
        assert any(line.startswith("RESULT whoami user ") for line in lines)
        assert "RESULT add_note saved note 1" in lines
        assert lines[-1] == "RESULT list_notes 1. hello", "\n".join(lines)
        authorize = next(line for line in lines if line.startswith("AUTHORIZE "))
        assert query_of(authorize.split(" ", 1)[1])["resource"] == server.url

        # A token Pixy minted for another resource: 401 invalid_token (aud is checked).
        other = token_for(pixy.base, "https://other.example/mcp", "read write")
        refused = mcp_post(server.url, other, INITIALIZE)
        assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
        # A token for this server with `read` only: whoami answers, add_note (scope write) does not
        # exist for it (FastMCP hides tools whose scope the token lacks).
        read_only = token_for(pixy.base, server.url, "read")
        initialized = mcp_post(server.url, read_only, INITIALIZE)
        session = initialized.headers.get("mcp-session-id")
        assert rpc_result(initialized)["serverInfo"]["name"] == "Pixy FastMCP notes"
        assert mcp_post(server.url, read_only, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session).status_code == 202
        tools = rpc_result(mcp_post(server.url, read_only, {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}, session))
        assert sorted(tool["name"] for tool in tools["tools"]) == ["list_notes", "whoami"]
        whoami = rpc_result(mcp_post(server.url, read_only, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                                             "params": {"name": "whoami", "arguments": {}}}, session))
        assert not whoami["isError"] and whoami["content"][0]["text"].endswith("scopes read")
        add = mcp_post(server.url, read_only, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                               "params": {"name": "add_note", "arguments": {"text": "no"}}}, session)
        assert rpc_result(add)["isError"] and "Unknown tool" in rpc_result(add)["content"][0]["text"], add.text
        notes = rpc_result(mcp_post(server.url, read_only, {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                                                            "params": {"name": "list_notes", "arguments": {}}}, session))
        assert notes["content"][0]["text"] == "1. hello", "the refused add_note saved nothing"
    finally:
        server.stop()
        pixy.stop()


def test_introspection_mode_sees_a_revocation_at_once(data_dir, tmp_path):
    seed_user(data_dir, None)
    out = run_cli(data_dir, "clients", "add", "--client-id", "notes-rs", "--auth-method", "client_secret_basic", "--resource-server",
                  "--redirect-uri", "https://rs.example/unused")
    secret = re.search(r"client_secret=(\S+)", out).group(1)
    pixy = PixyServer(data_dir).start()
    # A generated secret may begin with "-", which an option's separate value cannot: use "=".
    example = ExampleServer(tmp_path, issuer=pixy.base, extra=("--introspection-client-id", "notes-rs",
                                                               f"--introspection-client-secret={secret}")).start()
    try:
        connector = scripted_connector(pixy.base, example, "https://claude.ai/api/mcp/auth_callback",
                                       "https://claude.ai/api/mcp/auth_callback", "Claude")
        token = connector["tokens"]["access_token"]
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}",
                   "MCP-Protocol-Version": "2025-06-18"}
        assert httpx.post(example.url, json=body, headers=headers, timeout=TIMEOUT).status_code == 200
        assert httpx.post(f"{pixy.base}/revoke", data={"token": token, "client_id": connector["client_id"]}, timeout=TIMEOUT).status_code == 200
        after = httpx.post(example.url, json=body, headers=headers, timeout=TIMEOUT)
        assert after.status_code == 401 and 'error="invalid_token"' in after.headers["www-authenticate"]
    finally:
        example.stop()
        pixy.stop()
