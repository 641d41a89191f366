"""`pixy doctor` and PixyClient end to end: the doctor's verdicts on Pixy with the example MCP
server (all green, with the enforcement probes), on deliberately broken servers (each defect
reported with its fix), and on real peer servers (their real gaps); and a Swift program of ten
lines that signs in with PixyClient and calls a tool (Examples/QuickClient/main.swift)."""
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from broken_mcp import DEFECTS, BrokenMCP
from conftest import PASSWORD, REPO, TIMEOUT, PixyServer, free_port, terminate
from test_mcp import Browser, ClientProcess, ExampleServer, seed_user
from upstreams import Glewlwyd

PEERS = Path(__file__).parent / "peers"
PEER_CLIENT = "bench-client"
PEER_REDIRECT = "http://127.0.0.1:9999/cb"
PROBES = ["login.flow", "login.iss", "token.no_store", "resource.accepts_token", "enforce.plain", "enforce.missing_challenge",
          "enforce.wrong_verifier", "enforce.replay", "resource.audience", "refresh.rotates"]


def pixy_binary() -> str:
    return os.environ["PIXY_BIN"]


def doctor(url: str, *args: str, password: str | None = None) -> tuple[int, dict, str]:
    """Runs `pixy doctor` twice (JSON, then text) and returns the exit status, the JSON report
    and the text report."""
    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([pixy_binary(), "doctor", url, *args, *extra], input=(password + "\n") if password else None,
                              capture_output=True, text=True, timeout=180)
    as_json = run("--json")
    as_text = run()
    assert as_json.returncode == as_text.returncode, as_json.stderr + as_text.stderr
    report = json.loads(as_json.stdout)
    assert report["passed"] == (as_json.returncode == 0)
    return as_json.returncode, report, as_text.stdout


def verdicts(report: dict) -> dict[str, str]:
    return {check["id"]: check["verdict"] for check in report["checks"]}


@pytest.fixture
def pixy_and_example(data_dir, tmp_path):
    seed_user(data_dir, None)
    pixy = PixyServer(data_dir).start()
    example = ExampleServer(tmp_path, issuer=pixy.base).start()
    yield pixy, example
    example.stop()
    pixy.stop()


@pytest.mark.parametrize("profile", ["chatgpt", "claude", "generic"])
def test_doctor_passes_pixy_with_the_example_mcp_server_including_every_enforcement_probe(pixy_and_example, profile):
    pixy, example = pixy_and_example
    status, report, text = doctor(example.url, "--profile", profile, "--login", "--user", "alice", "--password-stdin", password=PASSWORD)
    assert status == 0, text
    found = verdicts(report)
    assert set(found.values()) == {"pass"}, text
    for check in ["resource.challenge", "resource.resource_metadata", "prm.resource", "as.issuer", "as.pkce_s256", "as.public_clients",
                  "as.registration", "as.iss_parameter", "prm.cors", "as.cors", *PROBES]:
        assert check in found, check
    assert "✗" not in text and text.strip().endswith("0 warnings")


def test_doctor_on_pixy_as_an_issuer(pixy_and_example):
    pixy, _ = pixy_and_example
    status, report, text = doctor(pixy.base, "--profile", "claude")
    assert status == 0, text
    assert verdicts(report)["target"] == "pass" and verdicts(report)["as.metadata"] == "pass"


# What each broken fixture must be reported as: check id, verdict, and the words of its fix line.
BROKEN = {
    "no_challenge": ("resource.challenge", "fail", "answer unauthenticated MCP requests with 401"),
    "no_metadata": ("prm.found", "fail", "serve RFC 9728 metadata"),
    "no_resource_metadata": ("resource.resource_metadata", "warn", "add resource_metadata="),
    "wrong_resource": ("prm.resource", "fail", "set resource in the Protected Resource Metadata to exactly"),
    "no_authorization_servers": ("prm.authorization_servers", "fail", "list your issuer in authorization_servers"),
    "no_s256": ("as.pkce_s256", "fail", "support PKCE S256"),
    "plain_advertised": ("as.pkce_plain", "warn", "offer S256 only"),
    "issuer_mismatch": ("as.issuer", "fail", "make issuer in the metadata exactly"),
    "no_registration": ("as.registration", "fail", "offer dynamic client registration"),
    "http_endpoints": ("as.https", "fail", "serve every endpoint over https"),
    "no_public_clients": ("as.public_clients", "fail", "accept public clients with PKCE"),
    "no_cors": ("as.cors", "warn", "answer metadata requests with Access-Control-Allow-Origin: *"),
    "no_iss": ("as.iss_parameter", "warn", "return iss with every authorization response"),
}


@pytest.mark.parametrize("defect", sorted(BROKEN))
def test_doctor_reports_each_defect_of_a_broken_mcp_server_with_its_fix(defect):
    check, verdict, fix = BROKEN[defect]
    server = BrokenMCP(defect).start()
    try:
        status, report, text = doctor(server.url, "--profile", "chatgpt")
    finally:
        server.stop()
    found = verdicts(report)
    assert found.get(check) == verdict, text
    assert status == (1 if verdict == "fail" else 0), text
    assert f"fix: {fix}" in text
    # Only the defect is reported: everything else about the fixture is right.
    others = {id: v for id, v in found.items() if id != check and v != "pass"}
    allowed = {"no_challenge": {}, "no_metadata": {"resource.resource_metadata": "warn"}, "no_cors": {"prm.cors": "warn"}}
    assert others == allowed.get(defect, {}), text


def test_every_broken_fixture_is_examined():
    assert set(BROKEN) | {"accepts_any_token"} == set(DEFECTS)


def test_doctor_login_finds_an_mcp_server_that_accepts_tokens_for_another_resource(pixy_and_example):
    pixy, _ = pixy_and_example
    server = BrokenMCP("accepts_any_token", issuer=pixy.base).start()
    try:
        status, report, text = doctor(server.url, "--login", "--user", "alice", "--password-stdin", password=PASSWORD)
    finally:
        server.stop()
    assert status == 1, text
    assert verdicts(report)["resource.audience"] == "fail", text
    assert verdicts(report)["login.flow"] == "pass", text
    assert "fix: check the token's audience" in text


def test_doctor_reports_a_pixy_reached_under_another_name_than_its_issuer(data_dir, tmp_path):
    seed_user(data_dir, None)
    port = free_port()
    pixy = PixyServer(data_dir, extra=("--issuer", f"http://localhost:{port}"), port=port).start()
    example = ExampleServer(tmp_path, issuer=f"http://127.0.0.1:{port}").start()
    try:
        status, report, text = doctor(example.url)
    finally:
        example.stop()
        pixy.stop()
    assert status == 1
    assert verdicts(report)["as.issuer"] == "fail", text
    assert f"issuer is \"http://localhost:{port}\", looked up http://127.0.0.1:{port}" in text


def test_doctor_reports_an_example_server_whose_public_url_is_not_how_it_is_reached(pixy_and_example, tmp_path):
    pixy, _ = pixy_and_example
    example = ExampleServer(tmp_path, issuer=pixy.base, extra=("--public-url", "http://localhost:1")).start()
    try:
        status, report, text = doctor(example.url)
    finally:
        example.stop()
    assert status == 1
    found = verdicts(report)
    assert found["resource.resource_metadata"] == "fail", text
    assert found["prm.resource"] == "fail", text
    assert 'resource is "http://localhost:1/mcp"' in text


class Peer:
    """A peer authorization server from the benchmark set (tests/e2e/peers), on loopback."""

    def __init__(self, name: str, tmp_path: Path):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.state = tmp_path / name
        self.state.mkdir()
        self.process: subprocess.Popen | None = None

    def start(self) -> "Peer":
        env = dict(os.environ, CLIENT_ID=PEER_CLIENT, REDIRECT_URI=PEER_REDIRECT)
        if self.name.startswith("authlib"):
            env.update(AUTHLIB_DB=str(self.state / "authlib.sqlite"), AUTHLIB_STRICT="1" if self.name.endswith("strict") else "0")
            command = ["python3", "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{self.port}", "--chdir", str(PEERS),
                       "--log-level", "warning", "authlib_server:app"]
            self.authorize, self.token = self.base + "/authorize", self.base + "/token"
        else:
            env.update(DOT_DB=str(self.state / "dot.sqlite"), DOT_STRICT="1" if self.name.endswith("strict") else "0")
            for step in (["migrate", "-v0"], ["bench_setup"]):
                subprocess.run(["python3", "manage.py", *step], cwd=PEERS / "dot", env=env, check=True, capture_output=True, timeout=120)
            command = ["python3", "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{self.port}", "--chdir", str(PEERS / "dot"),
                       "--log-level", "warning", "dotbench.wsgi:application"]
            self.authorize, self.token = self.base + "/o/authorize/", self.base + "/o/token/"
        self.log = open(self.state / "server.log", "w")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            assert self.process.poll() is None, (self.state / "server.log").read_text()
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not start:\n" + (self.state / "server.log").read_text())

    def stop(self) -> None:
        terminate(self.process)
        self.log.close()


# The peers' real gaps, as the doctor must report them (check id → verdict). Each is what the peer
# does, recorded by tests/probe/probe.py too: none publishes RFC 8414 metadata, none sends iss.
PEER_VERDICTS = {
    "authlib": {"as.metadata": "fail", "login.flow": "pass", "login.iss": "warn", "enforce.plain": "fail",
                "enforce.missing_challenge": "fail", "enforce.wrong_verifier": "fail", "enforce.replay": "pass",
                "refresh.rotates": "warn"},
    "authlib-strict": {"as.metadata": "fail", "login.flow": "pass", "enforce.plain": "pass", "enforce.missing_challenge": "pass",
                       "enforce.wrong_verifier": "fail", "enforce.replay": "pass"},
    "dot": {"as.metadata": "fail", "login.flow": "pass", "login.iss": "warn", "enforce.plain": "fail",
            "enforce.missing_challenge": "pass", "enforce.wrong_verifier": "fail", "enforce.replay": "pass", "refresh.rotates": "pass"},
    "dot-strict": {"as.metadata": "fail", "login.flow": "pass", "enforce.plain": "pass", "enforce.missing_challenge": "pass",
                   "enforce.wrong_verifier": "fail", "enforce.replay": "pass", "refresh.rotates": "pass"},
}


@pytest.mark.parametrize("name", sorted(PEER_VERDICTS))
def test_doctor_reports_the_real_gaps_of_each_peer(name, tmp_path):
    peer = Peer(name, tmp_path).start()
    try:
        status, report, text = doctor(peer.base, "--unattended", "--client-id", PEER_CLIENT, "--redirect-uri", PEER_REDIRECT,
                                      "--authorization-endpoint", peer.authorize, "--token-endpoint", peer.token)
    finally:
        peer.stop()
    assert status == 1, text
    found = verdicts(report)
    for check, verdict in PEER_VERDICTS[name].items():
        assert found.get(check) == verdict, f"{check}: {found.get(check)} (expected {verdict})\n{text}"


def test_doctor_reports_glewlwyds_metadata_gaps(tmp_path):
    upstream = Glewlwyd(tmp_path / "glewlwyd").start()
    try:
        upstream.provision("http://127.0.0.1:9999/cb")
        status, report, text = doctor(upstream.issuer, "--profile", "chatgpt")
    finally:
        upstream.stop()
    found = verdicts(report)
    assert found["as.metadata"] == "pass", text
    assert found["as.issuer"] == "pass", text
    assert found["as.pkce_s256"] == "pass", text
    # This glewlwyd (tests/e2e/upstreams.py) registers confidential clients only, by hand.
    assert found["as.public_clients"] == "fail", text
    assert found["as.registration"] == "fail", text
    assert found["as.iss_parameter"] == "warn", text
    assert status == 1, text


def test_a_ten_line_swift_program_signs_in_with_pixyclient_and_calls_a_tool(pixy_and_example):
    """Examples/QuickClient/main.swift: PixyClient plugged into the Swift MCP SDK; this test is
    the user's browser."""
    _, example = pixy_and_example
    program = REPO / "Examples" / "QuickClient" / "main.swift"
    code = [line for line in program.read_text().splitlines() if line.strip() and not line.lstrip().startswith("//")]
    assert len(code) <= 10, code
    binary = Path(pixy_binary()).parent / "pixy-example-quick-client"
    client = ClientProcess([str(binary), example.url, "whoami"])
    browser = Browser()
    try:
        while (line := client.next_line()) is not None:
            if line.startswith("  http"):
                location = browser.authorize(line.strip())
                assert location.startswith("http://127.0.0.1:"), location
                assert httpx.get(location, timeout=TIMEOUT).status_code == 200
        lines = client.finish()
    finally:
        client.stop()
    assert "Open this URL to sign in:" in lines
    assert any(line.startswith("user ") for line in lines), lines


def test_pixy_login_then_pixy_token_from_a_file_only_its_owner_can_read(pixy_and_example, tmp_path):
    _, example = pixy_and_example
    tokens = tmp_path / "config" / "tokens.json"
    login = subprocess.run([pixy_binary(), "login", example.url, "--user", "alice", "--password-stdin", "--token-file", str(tokens)],
                           input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert login.returncode == 0, login.stderr
    assert "Signed in to " in login.stdout and "scopes: read" in login.stdout
    assert tokens.stat().st_mode & 0o777 == 0o600
    assert tokens.parent.stat().st_mode & 0o777 == 0o700
    token = subprocess.run([pixy_binary(), "token", example.url, "--token-file", str(tokens)], capture_output=True, text=True, timeout=60)
    assert token.returncode == 0, token.stderr
    access = token.stdout.strip()
    assert access.count(".") == 2
    answer = httpx.post(example.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=TIMEOUT,
                        headers={"Authorization": f"Bearer {access}", "Accept": "application/json, text/event-stream"})
    assert answer.status_code == 200, answer.text
    assert PASSWORD not in tokens.read_text()
    # Never signed in there: no browser, a clear message and a failing status.
    other = subprocess.run([pixy_binary(), "token", example.url, "--token-file", str(tmp_path / "none.json")], capture_output=True,
                           text=True, timeout=60)
    assert other.returncode == 1
    assert f"run `pixy login {example.url}`" in other.stderr
    assert not (tmp_path / "none.json").exists(), "nothing registered, nothing written"


def drive_sign_ins(command: list[str]) -> list[str]:
    """Runs a command that prints sign-in URLs (`  http…` after "Open this URL to sign in:"),
    signs in for each as the user's browser would, and returns its output lines."""
    process = ClientProcess(command)
    browser = Browser()
    try:
        while (line := process.next_line()) is not None:
            if line.startswith("  http"):
                location = browser.authorize(line.strip())
                assert location.startswith("http://127.0.0.1:"), location
                assert httpx.get(location, timeout=TIMEOUT).status_code == 200
        return process.finish()
    finally:
        process.stop()


def test_pixy_login_through_the_browser_on_a_loopback_redirect(pixy_and_example, tmp_path):
    _, example = pixy_and_example
    tokens = tmp_path / "tokens.json"
    lines = drive_sign_ins([pixy_binary(), "login", example.url, "--no-browser", "--token-file", str(tokens)])
    assert any(line.startswith("Signed in to ") for line in lines), lines
    token = subprocess.run([pixy_binary(), "token", example.url, "--token-file", str(tokens)], capture_output=True, text=True, timeout=60)
    assert token.returncode == 0 and token.stdout.count(".") == 2, token.stderr


def test_doctor_login_through_the_browser_runs_every_probe(pixy_and_example):
    _, example = pixy_and_example
    lines = drive_sign_ins([pixy_binary(), "doctor", example.url, "--login", "--no-browser", "--profile", "claude"])
    text = "\n".join(lines)
    for title in ["a full sign-in", "code_challenge_method=plain refused", "a request without code_challenge refused",
                  "a wrong verifier refused, and the code burnt", "a used code refused", "a token for another resource refused",
                  "refresh tokens rotate"]:
        assert f"✓ {title}" in text, text
    assert lines[-1].startswith("OK: "), text
