"""What an operator sees (docs/operations.md, "Metrics", "Logs" and "Health and readiness"), with
the real `pixy` binary: JSON logs that parse line by line and never carry a secret after a full run
of flows, refreshes and failed sign-ins; request ids; `/ready` beside `/health`; Prometheus metrics
on their own listener that move as the traffic says, a store timeout counted, no secret in a label."""
import base64
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.parse as up

import httpx

from conftest import PASSWORD, START_TIMEOUT, TIMEOUT, PixyServer, RedisProcess, free_port, pixy_binary, query_of, run_cli, terminate

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> tuple[dict, str]:
    """Reads /metrics: {(name, frozenset(labels)): value}, and the raw text."""
    answer = httpx.get(url, timeout=TIMEOUT)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in answer.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not an exposition line: {line!r}"
        labels = frozenset(LABEL.findall(match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples, answer.text


def value(samples: dict, name: str, **labels) -> float:
    """The sample of `name` with exactly `labels`, 0 when there is none yet (a counter that never moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def check_labels_carry_no_secret(samples: dict, text: str, secrets_seen: list[str]) -> None:
    for secret in secrets_seen:
        assert secret not in text, "a secret reached /metrics"
    for (_, labels) in samples:
        for _, label_value in labels:
            # Routes, methods, statuses, error codes, fixed words: short, from a closed alphabet.
            assert re.fullmatch(r"[A-Za-z0-9_./:{}+-]{0,64}", label_value), label_value


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_json_logs_parse_line_by_line_carry_request_ids_and_never_a_secret(seeded, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out, err = open(tmp_path / "stdout", "w"), open(tmp_path / "stderr", "w")
    metrics_port = free_port()
    process = subprocess.Popen([str(pixy_binary()), "serve", "--port", str(port), "--data-dir", str(seeded), "--log-format", "json",
                                "--metrics-port", str(metrics_port)],
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
            if attempt == 0:
                # The newest token used, then the first one again: reuse, the family ends.
                again = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"],
                                                    "client_id": "web-app"})
                assert again.status_code == 200
                secrets_seen += [again.json()["access_token"], again.json()["refresh_token"]]
                reuse = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                    "client_id": "web-app"})
                assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
            replay = client.post("/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                                 "client_id": "web-app", "redirect_uri": "http://127.0.0.1/callback"})
            assert replay.status_code == 400
        # A grant type no server knows is counted as `other`: what a client sends never becomes a label.
        odd = httpx.post(base + "/token", data={"grant_type": "grant-" + PASSWORD, "client_id": "web-app"}, timeout=TIMEOUT)
        assert odd.status_code == 400
        unknown = httpx.post(base + "/token", data={"grant_type": "authorization_code", "client_id": "web-app", "code": "x",
                                                    "code_verifier": "v" * 43}, headers={"User-Agent": "Claude-User/1.0"}, timeout=TIMEOUT)
        assert unknown.status_code == 400

        assert httpx.get(base + "/metrics", timeout=TIMEOUT).status_code == 404, "metrics are never on the OAuth listener"
        samples, text = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "pixy_token_requests_total", grant_type="authorization_code", outcome="ok") == 3
        assert value(samples, "pixy_token_requests_total", grant_type="refresh_token", outcome="ok") == 4
        assert value(samples, "pixy_token_requests_total", grant_type="refresh_token", outcome="invalid_grant") == 1
        assert value(samples, "pixy_token_requests_total", grant_type="authorization_code", outcome="invalid_grant") == 4  # 3 replays, 1 unknown code
        assert value(samples, "pixy_token_requests_total", grant_type="other", outcome="unsupported_grant_type") == 1
        assert value(samples, "pixy_code_replays_total") == 3
        assert value(samples, "pixy_refresh_reuse_total") == 1
        assert value(samples, "pixy_families_revoked_total", reason="reuse") == 1
        # The first family had already ended by reuse: only the two a replay ended count.
        assert value(samples, "pixy_families_revoked_total", reason="code_replay") == 2
        assert value(samples, "pixy_sign_ins_total", method="password", result="bad_password") == 3
        assert value(samples, "pixy_sign_ins_total", method="password", result="ok") == 3
        assert value(samples, "pixy_consents_total", decision="approved") == 3
        assert value(samples, "pixy_client_requests_total", kind="claude") == 1
        assert value(samples, "pixy_client_requests_total", kind="python") == 12
        assert value(samples, "pixy_http_requests_total", route="/token", method="POST", status="200") == 7
        assert value(samples, "pixy_http_request_duration_seconds_count", route="/token", method="POST") == 13
        assert value(samples, "pixy_store_operations_total", store="sqlite", operation="consume_code", result="ok") == 7  # every redemption tries once
        assert value(samples, "pixy_signing_key_age_seconds") >= 0
        assert ("pixy_password_checks_in_flight", frozenset()) in samples
        check_labels_carry_no_secret(samples, text, secrets_seen)
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
    tokens = [entry for entry in requests if entry["path"] == "/token"]
    assert all(entry["route"] == "/token" and "duration_ms" in entry and entry["source"] == "127.0.0.1" for entry in tokens)
    assert sum(entry.get("client_id") == "web-app" and entry.get("outcome") == "ok" for entry in tokens) == 7
    replays = [entry for entry in tokens if entry.get("outcome") == "invalid_grant" and "replayed" in entry.get("reason", "")]
    assert len(replays) == 3, "the request line says why a token request failed"
    text = "\n".join(lines)
    for secret in secrets_seen:
        assert secret not in text, "a secret reached the log"


def test_a_store_timeout_is_counted_and_the_request_fails_closed(seeded, tmp_path):
    """A Redis that stops answering (SIGSTOP: the connection stays open, nothing comes back) is
    what "the store is timing out" looks like; the metrics must say so, not only the 503s."""
    redis = RedisProcess(tmp_path / "redis").start()
    metrics_port = free_port()
    server = PixyServer(seeded, extra=("--store", redis.url, "--metrics-port", str(metrics_port))).start()
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        samples, _ = scrape(metrics)
        assert not [key for key in samples if key[0] == "pixy_store_operations_total" and ("result", "timeout") in key[1]]
        os.kill(redis.process.pid, signal.SIGSTOP)
        try:
            answer = httpx.post(f"{server.base}/token", data={"grant_type": "refresh_token", "refresh_token": "r" * 43,
                                                              "client_id": "web-app"}, timeout=TIMEOUT)
            assert answer.status_code == 503, answer.text
        finally:
            os.kill(redis.process.pid, signal.SIGCONT)
        samples, text = scrape(metrics)
        timeouts = {dict(labels)["operation"]: count for (name, labels), count in samples.items()
                    if name == "pixy_store_operations_total" and ("result", "timeout") in labels}
        assert timeouts and all(dict(labels)["store"] == "redis" for (name, labels) in samples
                                if name == "pixy_store_operations_total" and ("result", "timeout") in labels)
        assert value(samples, "pixy_token_requests_total", grant_type="refresh_token", outcome="server_error") == 1
        check_labels_carry_no_secret(samples, text, ["r" * 43])
    finally:
        server.stop()
        redis.stop()
