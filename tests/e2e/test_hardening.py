"""Live: operational hardening on the real binary (docs/threat-model.md): offboarding through the
admin commands, password changes that end sessions, connection limits, and login limits that hold
under parallel guesses across two processes sharing Redis. Every wait is bounded only to turn a
hang into a failure; nothing asserts how much happens in a time window."""
import base64
import concurrent.futures
import hashlib
import re
import secrets
import socket
import time
import urllib.parse as up

import httpx
import pytest

from conftest import PASSWORD, TIMEOUT, PixyServer, login_session, query_of, run_cli

REDIRECT = "http://127.0.0.1:9999/cb"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def bench_query(verifier: str) -> str:
    return up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": REDIRECT,
                         "code_challenge": s256(verifier), "code_challenge_method": "S256", "scope": "read"})


def tokens_for(base: str) -> dict:
    verifier = secrets.token_urlsafe(48)
    _, response = login_session(base, bench_query(verifier))
    code = query_of(response.headers["location"])["code"]
    answer = httpx.post(f"{base}/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                               "client_id": "bench-client"}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return answer.json()


def resource_server(data_dir) -> tuple[str, str]:
    out = run_cli(data_dir, "clients", "add", "--client-id", "rs", "--auth-method", "client_secret_basic", "--resource-server",
                  "--redirect-uri", "https://rs.example/unused")
    return "rs", re.search(r"client_secret=(\S+)", out).group(1)


def is_active(base: str, token: str, auth) -> bool:
    answer = httpx.post(f"{base}/introspect", data={"token": token}, auth=auth, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return answer.json()["active"]


def refresh(base: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/token", data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "bench-client"}, timeout=TIMEOUT)


def test_users_remove_revokes_grants_and_tokens(server):
    auth = resource_server(server.data_dir)
    tokens = tokens_for(server.base)
    assert is_active(server.base, tokens["access_token"], auth)
    listed = run_cli(server.data_dir, "grants", "list", "--user", "alice")
    assert "client=bench-client" in listed and "active" in listed
    out = run_cli(server.data_dir, "users", "remove", "ALICE")     # any spelling names the one account
    assert "revoked 1 grant(s)" in out
    assert not is_active(server.base, tokens["access_token"], auth), "the access token died with the user"
    answer = refresh(server.base, tokens["refresh_token"])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_clients_remove_and_grants_revoke(server):
    auth = resource_server(server.data_dir)
    first, second = tokens_for(server.base), tokens_for(server.base)
    grant_ids = [line.split("\t")[0] for line in run_cli(server.data_dir, "grants", "list", "--client", "bench-client").splitlines()]
    assert len(grant_ids) == 2
    run_cli(server.data_dir, "grants", "revoke", grant_ids[0])
    assert [is_active(server.base, t["access_token"], auth) for t in (first, second)].count(False) == 1, "exactly one grant revoked"
    assert "revoked 1 grant(s)" in run_cli(server.data_dir, "clients", "remove", "bench-client")
    for t in (first, second):
        assert not is_active(server.base, t["access_token"], auth)
        assert refresh(server.base, t["refresh_token"]).status_code in (400, 401)


def test_set_password_ends_the_users_sessions(server):
    browser, response = login_session(server.base, bench_query(secrets.token_urlsafe(48)))
    assert "code=" in response.headers["location"]
    signed_in = browser.get("/authorize?" + bench_query(secrets.token_urlsafe(48)))
    assert signed_in.status_code == 302 and "code=" in signed_in.headers["location"], "the session signs in by itself"
    run_cli(server.data_dir, "users", "set-password", "alice", "--password-stdin", stdin="a brand new password\n")
    after = browser.get("/authorize?" + bench_query(secrets.token_urlsafe(48)))
    assert after.status_code == 303 and after.headers["location"].startswith("/login"), "the old session no longer signs in"
    _, fresh = login_session(server.base, bench_query(secrets.token_urlsafe(48)), password="a brand new password")
    assert "code=" in fresh.headers["location"]


def wait_closed(connection: socket.socket, bound: float = 60) -> bool:
    """Whether the server closes `connection` (reads until EOF) within `bound` seconds."""
    connection.settimeout(bound)
    try:
        while connection.recv(4096):
            pass
        return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def test_idle_and_slow_connections_are_closed(seeded):
    pixy = PixyServer(seeded, extra=("--idle-timeout", "2", "--request-timeout", "3")).start()
    try:
        idle = socket.create_connection(("127.0.0.1", pixy.port))
        assert wait_closed(idle), "an idle connection is closed"
        half = socket.create_connection(("127.0.0.1", pixy.port))
        half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")            # a head that never ends
        assert wait_closed(half), "a request head that never ends is closed"
        # A body announced as 1000 bytes and trickled a byte at a time: cut off long before the end.
        slow = socket.create_connection(("127.0.0.1", pixy.port))
        slow.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 1000\r\n\r\nabc")
        sent = 3
        closed = False
        while sent < 1000 and not closed:
            try:
                slow.sendall(b"a")
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            slow.settimeout(0.5)
            try:
                closed = slow.recv(4096) == b""
            except (socket.timeout, TimeoutError):
                pass
            except ConnectionResetError:
                closed = True
        assert closed and sent < 1000, f"a trickled body is cut off (sent {sent} of 1000 bytes)"
        assert httpx.get(f"{pixy.base}/health", timeout=TIMEOUT).status_code == 200, "the server is fine"
    finally:
        pixy.stop()


def test_connection_cap_holds_new_connections_until_one_closes(seeded):
    pixy = PixyServer(seeded, extra=("--max-connections", "4", "--idle-timeout", "120")).start()
    try:
        held = [socket.create_connection(("127.0.0.1", pixy.port), timeout=TIMEOUT) for _ in range(4)]
        for connection in held:   # each really is accepted: it answers a request
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        waiting = socket.create_connection(("127.0.0.1", pixy.port))   # the kernel's backlog takes it
        waiting.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        waiting.settimeout(1.5)
        try:
            early = waiting.recv(4096)
        except (socket.timeout, TimeoutError):
            early = b""
        assert early == b"", "at the cap, a fifth connection is not served"
        held[0].close()
        waiting.settimeout(60)
        assert waiting.recv(4096).startswith(b"HTTP/1.1 200"), "served as soon as one closes"
        for connection in held[1:] + [waiting]:
            connection.close()
    finally:
        pixy.stop()


@pytest.mark.parametrize("name", ["redis", "postgres+memcached", "postgres+redis"])
def test_parallel_guesses_across_two_processes_reach_bcrypt_at_most_five_times(name, tmp_path, data_dir):
    from test_shared_stores import start_deployment
    deployment = start_deployment(name, tmp_path)
    try:
        guess_in_parallel(deployment, data_dir)
    finally:
        deployment.stop()


def guess_in_parallel(deployment, data_dir) -> None:
    from test_shared_stores import Pair, seed
    seed(deployment, data_dir)
    with Pair(deployment, data_dir) as pair:
        pages = []
        for index in range(30):
            base = [pair.a.base, pair.b.base][index % 2]
            browser = httpx.Client(base_url=base, follow_redirects=False, timeout=TIMEOUT)
            start = browser.get("/authorize?" + bench_query(secrets.token_urlsafe(48)))
            page = browser.get(start.headers["location"])
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
            pages.append((browser, action, csrf))

        def guess(entry) -> str:
            browser, action, csrf = entry
            return browser.post(action, data={"username": "Alice", "password": "wrong", "csrf_token": csrf}).headers["location"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=30) as pool:
            outcomes = list(pool.map(guess, pages))
        checked = sum("error=invalid" in o for o in outcomes)
        assert checked <= 5, f"{checked} parallel guesses reached the password check"
        assert all(("error=invalid" in o) or ("error=throttled" in o) or ("error=busy" in o) for o in outcomes)
        # Refused-as-busy guesses were not counted: keep guessing one at a time until the lock.
        for _ in range(10):
            _, response = login_session(pair.a.base, bench_query(secrets.token_urlsafe(48)), password="wrong")
            location = response.headers["location"]
            if "error=throttled" in location:
                break
            checked += "error=invalid" in location
        assert checked == 5, f"exactly 5 guesses were checked in all ({checked})"
        _, right = login_session(pair.b.base, bench_query(secrets.token_urlsafe(48)), password=PASSWORD)
        assert "error=throttled" in right.headers["location"], "the other process sees the lock too"


def test_a_tls_handshake_that_never_completes_is_closed(seeded, tmp_path):
    import ssl
    from test_cimd import make_ca_and_leaf
    ca, cert, key = make_ca_and_leaf(tmp_path)
    pixy = PixyServer(seeded, extra=("--tls-cert", str(cert), "--tls-key", str(key), "--idle-timeout", "2"),
                      verify=ssl.create_default_context(cafile=str(ca))).start()
    try:
        silent = socket.create_connection(("127.0.0.1", pixy.port))            # TCP only: no ClientHello
        assert wait_closed(silent), "a silent TLS client is dropped"
        partial = socket.create_connection(("127.0.0.1", pixy.port))
        partial.sendall(bytes.fromhex("160301"))                                # the first bytes of a record, then nothing
        assert wait_closed(partial), "a stalled handshake is dropped"
    finally:
        pixy.stop()
