"""Upstream identity providers for the federation tests (docs/federation.md).

- `Glewlwyd`: a real OpenID provider nobody here wrote (the Debian package), started on a free
  loopback port with an empty SQLite database and provisioned through its own REST API: an
  RSA-signing OIDC plugin that publishes its JWKS, user alice, and Pixy as a confidential client.
- `FakeUpstream`: a small OpenID provider (or, with `github=True`, a GitHub-shaped plain OAuth 2
  provider) whose answers a test can bend: wrong `aud`, wrong `nonce`, a forged signature, a wrong
  `iss` parameter, `access_denied`, a token endpoint that never answers. It approves every
  authorization request at once, like a provider where the user is already signed in.
"""
import base64
import http.server
import json
import secrets
import shutil
import subprocess
import threading
import time
import urllib.parse as up
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from selenium.common.exceptions import ElementNotInteractableException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import START_TIMEOUT, TIMEOUT, free_port, terminate

GLEWLWYD_PASSWORD = "alice-glewlwyd-password-123"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key) -> tuple[str, str]:
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class Glewlwyd:
    """glewlwyd on 127.0.0.1 with its own database, config and a copy of its web app (the Debian
    package's copy has a `config.json` that is a directory and relative symlinks)."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.issuer = self.base + "/api/oidc"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Glewlwyd":
        database = self.directory / "glewlwyd.db"
        schema = subprocess.run(["zcat", "/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"], capture_output=True, check=True).stdout
        subprocess.run(["sqlite3", str(database)], input=schema, check=True)
        webapp = self.directory / "webapp"
        shutil.copytree("/usr/share/glewlwyd/webapp", webapp, symlinks=False, ignore=shutil.ignore_patterns("config.json"))
        shutil.copy("/etc/glewlwyd/config-2.7.json/config.json", webapp / "config.json")
        config = []
        for line in Path("/etc/glewlwyd/glewlwyd.conf").read_text().splitlines():
            if line.startswith("port="):
                line = f"port={self.port}"
            elif line.startswith("external_url="):
                line = f'external_url="{self.base}"'
            elif line.startswith("#bind_address=") or line.startswith("bind_address="):
                line = 'bind_address="127.0.0.1"'
            elif line.startswith("log_mode="):
                line = 'log_mode="console"'
            elif line.startswith("log_level="):
                line = 'log_level="WARNING"'
            elif line.startswith("# static_files_path=") or line.startswith("static_files_path="):
                line = f'static_files_path="{webapp}/"'
            elif line.startswith("@include"):
                line = f'database = {{ type = "sqlite3"\n  path = "{database}" }};'
            config.append(line)
        if not any(line.startswith("bind_address=") for line in config):
            config.append('bind_address="127.0.0.1"')
        (self.directory / "glewlwyd.conf").write_text("\n".join(config) + "\n")
        self.log = open(self.directory / "glewlwyd.log", "w")
        self.process = subprocess.Popen(["glewlwyd", "-c", str(self.directory / "glewlwyd.conf")], cwd=self.directory,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            assert self.process.poll() is None, f"glewlwyd exited early:\n{(self.directory / 'glewlwyd.log').read_text()}"
            try:
                if httpx.get(self.base + "/config", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("glewlwyd did not start")

    def provision(self, redirect_uri: str, client_id: str = "pixy", client_secret: str = "pixy-upstream-secret-0123456789") -> None:
        """The OIDC plugin (RS256 ID tokens, PKCE required, JWKS published), user alice with an
        e-mail address, and Pixy as a confidential client with `redirect_uri`."""
        api = self.base + "/api"
        admin = httpx.Client(timeout=TIMEOUT)

        def check(response, what):
            assert response.status_code == 200, f"glewlwyd {what}: {response.status_code} {response.text[:300]}"

        check(admin.post(api + "/auth/", json={"username": "admin", "password": "password"}), "admin login")
        private, public = pem(rsa_key())
        parameters = {
            "iss": self.issuer, "jwt-type": "rsa", "jwt-key-size": "256", "key": private, "cert": public, "jwks-show": True,
            "access-token-duration": 3600, "refresh-token-duration": 1209600, "code-duration": 600,
            "refresh-token-rolling": False, "allow-non-oidc": False, "auth-type-code-enabled": True,
            "auth-type-code-revoke-replayed": True, "auth-type-implicit-enabled": False, "auth-type-token-enabled": False,
            "auth-type-id-token-enabled": False, "auth-type-none-enabled": False, "auth-type-password-enabled": False,
            "auth-type-client-enabled": False, "auth-type-device-enabled": False, "auth-type-refresh-enabled": False,
            "scope": [], "additional-parameters": [], "pkce-allowed": True, "pkce-method-plain-allowed": False,
            "pkce-required": True, "pkce-required-public-client": True, "claims": [], "allowed-scope": ["openid"],
            "request-parameter-allow": False, "secret-type": "pairwise", "name-claim": "on-demand", "email-claim": "mandatory",
            "scope-claim": "no",
            "address-claim": {"type": "no", "formatted": "", "street_address": "", "locality": "", "region": "",
                              "postal_code": "", "country": "", "mandatory": False},
            "session-management-allowed": False, "introspection-revocation-allowed": False, "register-client-allowed": False,
        }
        check(admin.post(api + "/mod/plugin/", json={"module": "oidc", "name": "oidc", "display_name": "oidc", "enabled": True,
                                                     "parameters": parameters}), "OIDC plugin")
        check(admin.post(api + "/user/", json={"username": "alice", "name": "Alice", "email": "alice@example.com", "enabled": True,
                                              "password": GLEWLWYD_PASSWORD, "scope": ["openid", "g_profile"]}), "user")
        check(admin.post(api + "/client/", json={
            "client_id": client_id, "name": "Pixy", "description": "", "confidential": True, "password": client_secret,
            "enabled": True, "redirect_uri": [redirect_uri], "authorization_type": ["code"],
            "token_endpoint_auth_method": ["client_secret_basic"], "scope": ["openid"]}), "client")
        self.client_id, self.client_secret = client_id, client_secret

    def sign_in(self, driver) -> None:
        """Signs alice in on glewlwyd's own login page in Chromium, then continues to the client.
        The page is a React app that re-renders as it loads: each step finds its element afresh."""
        def press(finder):
            def attempt(d):
                element = finder(d)
                if element is None:
                    return False
                element.click()
                return True
            WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException, ElementNotInteractableException)).until(attempt)

        def typed(element_id, text):
            def attempt(d):
                field = d.find_element(By.ID, element_id)
                field.clear()
                field.send_keys(text)
                return field.get_attribute("value") == text
            WebDriverWait(driver, 60, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException,
                                                          ElementNotInteractableException)).until(attempt)

        typed("username", "alice")
        typed("password", GLEWLWYD_PASSWORD)
        press(lambda d: next(iter(d.find_elements(By.ID, "loginbut")), None))
        press(lambda d: next((b for b in d.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Continue"), None))

    def stop(self) -> None:
        terminate(self.process)
        self.log.close()


class FakeUpstream:
    """An OpenID provider (or GitHub-shaped OAuth 2 provider) on a free loopback port, in a thread.
    `behaviour` bends one answer; `requests` records what Pixy sent."""

    def __init__(self, github: bool = False, behaviour: str = "good", sends_iss: bool = False):
        self.github = github
        self.behaviour = behaviour
        self.sends_iss = sends_iss
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.issuer = self.base
        self.client_id = "pixy-at-fake"
        self.client_secret = "fake-upstream-secret-0123456789-abcdef"
        self.key = rsa_key()
        self.other_key = rsa_key()
        self.codes: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.user = {"sub": "fake-user-1", "email": "bob@example.com", "id": 4242, "login": "bob-gh"}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, body: dict | None = None, headers: dict | None = None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = up.urlparse(self.path)
                query = {k: v[0] for k, v in up.parse_qs(url.query).items()}
                fake.requests.append(("GET", url.path, query))
                if url.path == "/.well-known/openid-configuration" and not fake.github:
                    if fake.behaviour == "discovery_down":
                        return self.reply(503, {"error": "down"})
                    return self.reply(200, {
                        "issuer": fake.issuer, "authorization_endpoint": fake.base + "/authorize",
                        "token_endpoint": fake.base + "/token", "jwks_uri": fake.base + "/jwks",
                        "userinfo_endpoint": fake.base + "/userinfo", "response_types_supported": ["code"],
                        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                        "code_challenge_methods_supported": ["S256"],
                        "authorization_response_iss_parameter_supported": fake.sends_iss or fake.behaviour == "iss_missing"})
                if url.path == "/jwks":
                    public = jwt.algorithms.RSAAlgorithm.to_jwk(fake.key.public_key(), as_dict=True)
                    public.update({"kid": "k1", "use": "sig", "alg": "RS256"})
                    return self.reply(200, {"keys": [public]})
                if url.path in ("/authorize", "/login/oauth/authorize"):
                    redirect = query["redirect_uri"]
                    params = {"state": query.get("state", "")}
                    if fake.behaviour == "access_denied":
                        params["error"] = "access_denied"
                    else:
                        code = secrets.token_urlsafe(16)
                        fake.codes[code] = query
                        params["code"] = code
                    if fake.sends_iss:
                        params["iss"] = fake.issuer
                    if fake.behaviour == "wrong_iss_param":
                        params["iss"] = "https://attacker.example"
                    return self.reply(302, headers={"Location": redirect + "?" + up.urlencode(params)})
                if url.path in ("/userinfo", "/user"):
                    if self.headers.get("Authorization") != "Bearer fake-access-token":
                        return self.reply(401, {"message": "Bad credentials"})
                    if fake.github:
                        return self.reply(200, {"id": fake.user["id"], "login": fake.user["login"], "email": fake.user["email"]})
                    return self.reply(200, {"sub": fake.user["sub"], "email": fake.user["email"]})
                self.reply(404, {"error": "not_found"})

            def do_POST(self):
                url = up.urlparse(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in up.parse_qs(self.rfile.read(length).decode()).items()}
                fake.requests.append(("POST", url.path, {**form, "authorization": self.headers.get("Authorization", "")}))
                if fake.behaviour == "token_hangs":
                    fake.stopped.wait(TIMEOUT)  # answers nothing until the test ends
                    return
                request = fake.codes.pop(form.get("code", ""), None)
                basic = "Basic " + base64.b64encode(f"{fake.client_id}:{fake.client_secret}".encode()).decode()
                if request is None or self.headers.get("Authorization") != basic:
                    return self.reply(400, {"error": "invalid_grant"})
                challenge = base64.urlsafe_b64encode(
                    __import__("hashlib").sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
                if challenge != request.get("code_challenge") or form.get("redirect_uri") != request.get("redirect_uri"):
                    return self.reply(400, {"error": "invalid_grant"})
                body = {"access_token": "fake-access-token", "token_type": "Bearer", "expires_in": 3600}
                if not fake.github:
                    body["id_token"] = fake.id_token(request)
                self.reply(200, body, headers={"Cache-Control": "no-store"})

        self.stopped = threading.Event()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def id_token(self, request: dict) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.user["sub"], "aud": self.client_id, "exp": now + 300, "iat": now,
                  "nonce": request.get("nonce"), "email": self.user["email"], "email_verified": True, "auth_time": now}
        key, headers, algorithm = self.key, {"kid": "k1"}, "RS256"
        if self.behaviour == "wrong_aud":
            claims["aud"] = "someone-else"
        elif self.behaviour == "wrong_nonce":
            claims["nonce"] = "not-the-nonce"
        elif self.behaviour == "expired":
            claims["exp"], claims["iat"] = now - 3600, now - 7200
        elif self.behaviour == "stale_auth_time":
            claims["auth_time"] = now - 86400
        elif self.behaviour == "wrong_issuer_claim":
            claims["iss"] = "https://attacker.example"
        elif self.behaviour == "forged_signature":
            key = self.other_key
        elif self.behaviour == "hs256":
            return jwt.encode(claims, self.client_secret, algorithm="HS256", headers=headers)
        elif self.behaviour == "alg_none":
            header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": "k1"}).encode()).rstrip(b"=").decode()
            body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
            return f"{header}.{body}."
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)

    def provider_entry(self, provider_id: str, **allow) -> dict:
        entry = {"id": provider_id, "name": f"Fake {provider_id}", "client_id": self.client_id,
                 "client_secret": self.client_secret, "allow": allow or {"anyone": True}}
        if self.github:
            entry.update({"authorization_endpoint": self.base + "/login/oauth/authorize",
                          "token_endpoint": self.base + "/login/oauth/access_token", "userinfo_endpoint": self.base + "/user",
                          "subject_claim": "id", "email_claim": "email", "name_claim": "login", "scopes": ["read:user"]})
        else:
            entry["issuer"] = self.issuer
        return entry

    def start(self) -> "FakeUpstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
