"""Live: the `pixy` command line, first start, restart durability and configuration rules."""
import base64
import hashlib
import json
import re
import subprocess
import time
import urllib.parse as up

import httpx

from conftest import START_TIMEOUT, TIMEOUT, PixyServer, login_session, pixy_binary, query_of, run_cli, terminate


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def wait_for_output(server: PixyServer, pattern: str) -> re.Match:
    """Polls the server's log until `pattern` appears (bounded only to turn a hang into a failure)."""
    deadline = time.time() + START_TIMEOUT
    while not (match := re.search(pattern, server.output())) and time.time() < deadline:
        time.sleep(0.1)
    assert match, server.output()
    return match


def test_pkce_prints_a_valid_pair():
    text = subprocess.run([str(pixy_binary()), "pkce"], capture_output=True, text=True, check=True, timeout=TIMEOUT).stdout
    values = dict(line.split("=", 1) for line in text.strip().splitlines())
    assert len(values["code_verifier"]) == 64 and re.fullmatch(r"[A-Za-z0-9]{64}", values["code_verifier"])
    assert values["code_challenge"] == s256(values["code_verifier"])
    assert values["code_challenge_method"] == "S256"
    as_json = json.loads(subprocess.run([str(pixy_binary()), "pkce", "--json", "--length", "128", "--unreserved"],
                                        capture_output=True, text=True, check=True, timeout=TIMEOUT).stdout)
    assert len(as_json["code_verifier"]) == 128 and re.fullmatch(r"[A-Za-z0-9._~-]{128}", as_json["code_verifier"])
    assert as_json["code_challenge"] == s256(as_json["code_verifier"])
    bad = subprocess.run([str(pixy_binary()), "pkce", "--length", "42"], capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode != 0


def test_first_start_creates_admin_with_a_password_printed_once(data_dir):
    first = PixyServer(data_dir).start()
    try:
        # Printed once the port is bound, so possibly just after /health answers: polled for.
        password = wait_for_output(first, r"password: (\S+)").group(1)
        output = first.output()
        run_cli(data_dir, "clients", "add", "--client-id", "cli-test", "--redirect-uri", "http://127.0.0.1:9999/cb", "--skip-consent")  # serve made the store
        query = up.urlencode({"response_type": "code", "client_id": "cli-test", "code_challenge": s256("x" * 43),
                              "code_challenge_method": "S256"})
        _, response = login_session(first.base, query, username="admin", password=password)
        assert "code" in query_of(response.headers["location"]), "the printed admin password logs in"
    finally:
        first.stop()
    assert output.count(password) == 1
    second = PixyServer(data_dir).start()
    second.stop()
    assert "password:" not in second.output(), "printed only on the first start"


def test_registrations_keys_and_users_survive_a_restart(seeded):
    first = PixyServer(seeded).start()
    try:
        registered = httpx.post(f"{first.base}/register", json={
            "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none", "client_name": "Durable"}, timeout=TIMEOUT).json()
        kid = httpx.get(f"{first.base}/jwks.json", timeout=TIMEOUT).json()["keys"][0]["kid"]
    finally:
        first.stop()
    second = PixyServer(seeded, port=first.port).start()
    try:
        assert httpx.get(f"{second.base}/jwks.json", timeout=TIMEOUT).json()["keys"][0]["kid"] == kid
        verifier = "v" * 50
        query = up.urlencode({"response_type": "code", "client_id": registered["client_id"], "redirect_uri": "http://127.0.0.1:5555/cb",
                              "code_challenge": s256(verifier), "code_challenge_method": "S256", "state": "z"})
        client, response = login_session(second.base, query)
        consent = client.get(response.headers["location"])
        assert "Durable" in consent.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', consent.text).group(1)
        action = re.search(r'<form method="post" action="([^"]+)"', consent.text).group(1)
        approved = client.post(action, data={"csrf_token": csrf, "decision": "approve"})
        code = query_of(approved.headers["location"])["code"]
        token = httpx.post(f"{second.base}/token", data={"grant_type": "authorization_code", "code": code,
                                                          "code_verifier": verifier, "client_id": registered["client_id"]}, timeout=TIMEOUT)
        assert token.status_code == 200
    finally:
        second.stop()


def test_non_loopback_issuer_must_be_https(data_dir):
    result = subprocess.run([str(pixy_binary()), "serve", "--issuer", "http://auth.example.com", "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode != 0
    assert "https" in result.stderr


def test_environment_variables_configure_serve(data_dir):
    import os
    port = PixyServer(data_dir).port
    env = dict(os.environ, PIXY_PORT=str(port), PIXY_DATA_DIR=str(data_dir), PIXY_SCOPES="files:read files:write",
               PIXY_CODE_TTL="30")
    process = subprocess.Popen([str(pixy_binary()), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        metadata = None
        deadline = time.time() + START_TIMEOUT
        while metadata is None and time.time() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                metadata = httpx.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=5).json()
            except httpx.HTTPError:
                time.sleep(0.1)
        assert metadata is not None, f"pixy serve did not answer within {START_TIMEOUT} s"
        assert metadata["scopes_supported"] == ["files:read", "files:write"]
        assert metadata["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        terminate(process)


def test_keys_rotate_is_picked_up_by_a_running_server(seeded):
    import os
    server = PixyServer(seeded)
    env_before = os.environ.get("PIXY_KEY_RELOAD_INTERVAL")
    os.environ["PIXY_KEY_RELOAD_INTERVAL"] = "1"
    try:
        server.start()
    finally:
        if env_before is None:
            os.environ.pop("PIXY_KEY_RELOAD_INTERVAL")
        else:
            os.environ["PIXY_KEY_RELOAD_INTERVAL"] = env_before
    try:
        old_kid = httpx.get(f"{server.base}/jwks.json", timeout=TIMEOUT).json()["keys"][0]["kid"]
        out = run_cli(seeded, "keys", "rotate")
        new_kid = re.search(r"new signing key (\S+)", out).group(1)
        listing = run_cli(seeded, "keys", "list")
        assert old_kid in listing and "retired" in listing and new_kid in listing
        # The server reloads keys every second; wait for it by polling, bounded only against a hang.
        deadline = time.time() + START_TIMEOUT
        while True:
            kids = [k["kid"] for k in httpx.get(f"{server.base}/jwks.json", timeout=TIMEOUT).json()["keys"]]
            if new_kid in kids or time.time() > deadline:
                break
            time.sleep(0.1)
        assert set(kids) == {old_kid, new_kid}, "both published: the old one until its tokens expire"
        verifier = "k" * 50
        query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": "http://127.0.0.1:9999/cb",
                              "code_challenge": s256(verifier), "code_challenge_method": "S256"})
        _, response = login_session(server.base, query)
        code = query_of(response.headers["location"])["code"]
        token = httpx.post(f"{server.base}/token", data={"grant_type": "authorization_code", "code": code,
                                                         "code_verifier": verifier, "client_id": "bench-client"}, timeout=TIMEOUT).json()["access_token"]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["kid"] == new_kid
    finally:
        server.stop()


def test_clients_prune_removes_only_stale_dynamic_clients(server):
    registered = httpx.post(f"{server.base}/register", json={"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
                                                             "client_name": "Stale"}, timeout=TIMEOUT).json()
    again = httpx.post(f"{server.base}/register", json={"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none",
                                                        "client_name": "Stale"}, timeout=TIMEOUT).json()
    assert again["client_id"] == registered["client_id"], "identical registration returns the same client"
    assert "0 client(s) would be pruned" in run_cli(server.data_dir, "clients", "prune", "--unused-for", "1d", "--dry-run")
    out = run_cli(server.data_dir, "clients", "prune", "--unused-for", "0s")
    assert registered["client_id"] in out and "1 client(s) pruned" in out
    listing = run_cli(server.data_dir, "clients", "list")
    assert registered["client_id"] not in listing and "bench-client" in listing
