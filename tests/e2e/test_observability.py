"""What an operator sees (docs/operations.md, "Logs" and "Health and readiness"), with the real
`pixy` binary: JSON logs that parse line by line and never carry a secret after a full run of
flows, refreshes and failed sign-ins; request ids; `/ready` beside `/health`."""
import base64
import hashlib
import json
import re
import secrets
import subprocess
import time
import urllib.parse as up

import httpx

from conftest import PASSWORD, START_TIMEOUT, TIMEOUT, free_port, pixy_binary, query_of, run_cli, terminate


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_json_logs_parse_line_by_line_carry_request_ids_and_never_a_secret(seeded, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out, err = open(tmp_path / "stdout", "w"), open(tmp_path / "stderr", "w")
    process = subprocess.Popen([str(pixy_binary()), "serve", "--port", str(port), "--data-dir", str(seeded), "--log-format", "json"],
                               stdout=out, stderr=err)
    secrets_seen: list[str] = [PASSWORD]
    try:
        deadline = time.time() + START_TIMEOUT
        while True:
            assert process.poll() is None, (tmp_path / "stderr").read_text()
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "pixy did not start"
            time.sleep(0.1)
        assert httpx.get(base + "/ready", timeout=TIMEOUT).json() == {"status": "ready"}
        # A caller's safe request id is echoed; an unsafe one is replaced.
        echoed = httpx.get(base + "/health", headers={"X-Request-ID": "lb-7f3a.42"}, timeout=TIMEOUT)
        assert echoed.headers["x-request-id"] == "lb-7f3a.42"
        replaced = httpx.get(base + "/nothing-here", headers={"X-Request-ID": "evil\tvalue"}, timeout=TIMEOUT)
        assert replaced.status_code == 404 and re.fullmatch(r"[A-Za-z0-9_-]{16}", replaced.headers["x-request-id"])

        for attempt in range(3):
            client = httpx.Client(base_url=base, follow_redirects=False, timeout=TIMEOUT)  # a fresh browser each time
            verifier = secrets.token_urlsafe(48)
            secrets_seen.append(verifier)
            start = client.get("/authorize?" + up.urlencode({
                "response_type": "code", "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback",
                "code_challenge": s256(verifier), "code_challenge_method": "S256", "state": "st-" + str(attempt)}))
            page = client.get(start.headers["location"])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
            wrong = client.post(action, data={"username": "alice", "password": "wrong-" + PASSWORD, "csrf_token": csrf})
            assert "error=invalid" in wrong.headers["location"]
            page = client.get(wrong.headers["location"])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            consent = client.post(action, data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})
            page = client.get(consent.headers["location"])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            action_consent = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
            done = client.post(action_consent, data={"csrf_token": csrf, "decision": "approve"})
            code = query_of(done.headers["location"])["code"]
            secrets_seen += [code, csrf]
            tokens = client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                                 "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback"}).json()
            refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                    "client_id": "web-app"}).json()
            secrets_seen += [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"], refreshed["refresh_token"]]
            secrets_seen += [c for c in client.cookies.values()]
            replay = client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                                 "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback"})
            assert replay.status_code == 400
    finally:
        graceful = terminate(process)
        out.close()
        err.close()
    assert graceful
    lines = (tmp_path / "stderr").read_text().splitlines()
    assert lines, "pixy logged nothing"
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "label", "message"} <= entry.keys() for entry in entries)
    requests = [entry for entry in entries if "status" in entry and "method" in entry]
    assert len(requests) > 20
    assert all(re.fullmatch(r"[A-Za-z0-9._:-]+", entry["request_id"]) for entry in requests)
    assert any(entry["request_id"] == "lb-7f3a.42" and entry["path"] == "/health" for entry in requests)
    assert {entry["path"] for entry in requests} >= {"/authorize", "/login", "/consent", "/token", "/ready"}
    assert any(entry["message"] == "login failed" for entry in entries), "failed sign-ins are logged"
    text = "\n".join(lines)
    for secret in secrets_seen:
        assert secret not in text, "a secret reached the log"
