"""Live: several `pixy serve` processes sharing real stores (docs/operations.md, "Stores").

Every test runs on each shared deployment: one Redis for everything (AOF, appendfsync always,
noeviction); PostgreSQL for durable state with memcached for short-lived state; PostgreSQL with
Redis. Each test starts its own servers and two pixy processes with the same issuer, as behind
one load balancer. Nothing here skips.
"""
import base64
import concurrent.futures as cf
import hashlib
import re
import secrets
import subprocess
import threading
import time
import urllib.parse as up

import httpx
import pytest

from conftest import (PASSWORD, START_TIMEOUT, STOP_TIMEOUT, TIMEOUT, MemcachedProcess, PixyServer, PostgresProcess,
                      RedisProcess, free_port, login_session, pixy_binary, query_of, run_cli)

REDIRECT = "http://127.0.0.1:9999/cb"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Deployment:
    """The stores several pixy processes share: a durable one, and a separate ephemeral one or
    none (then the durable store holds short-lived state too)."""

    def __init__(self, name: str, durable, ephemeral=None):
        self.name = name
        self.durable = durable
        self.ephemeral = ephemeral

    @property
    def store_arguments(self) -> tuple[str, ...]:
        return ("--store", self.durable.url) + (("--ephemeral-store", self.ephemeral.url) if self.ephemeral else ())

    def cli(self, data_dir, *args: str, stdin: str | None = None) -> str:
        return run_cli(data_dir, *args, stdin=stdin, store=self.durable.url,
                       ephemeral=self.ephemeral.url if self.ephemeral else None)

    def stop(self) -> None:
        for server in (self.ephemeral, self.durable):
            if server:
                server.stop()


DEPLOYMENTS = ["redis", "postgres+memcached", "postgres+redis"]


def start_deployment(name: str, tmp_path) -> Deployment:
    if name == "redis":
        return Deployment(name, RedisProcess(tmp_path / "redis").start())
    durable = PostgresProcess().start()
    ephemeral = MemcachedProcess().start() if name == "postgres+memcached" else RedisProcess(tmp_path / "redis").start()
    return Deployment(name, durable, ephemeral)


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request, tmp_path):
    running = start_deployment(request.param, tmp_path)
    yield running
    running.stop()


def seed(deployment: Deployment, data_dir) -> None:
    deployment.cli(data_dir, "users", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    deployment.cli(data_dir, "clients", "add", "--client-id", "bench-client", "--redirect-uri", REDIRECT, "--skip-consent",
                   "--name", "Bench")


class Pair:
    """Two pixy processes on one deployment, one issuer between them."""

    def __init__(self, deployment: Deployment, data_dir, extra: tuple[str, ...] = (), registration_burst: int = 1000):
        issuer_port = free_port()
        self.issuer = f"http://127.0.0.1:{issuer_port}"
        common = (*deployment.store_arguments, "--issuer", self.issuer, "--registration-burst", str(registration_burst), *extra)
        self.a = PixyServer(data_dir, extra=common)
        self.b = PixyServer(data_dir, extra=common)

    def __enter__(self) -> "Pair":
        self.a.start()
        self.b.start()
        return self

    def __exit__(self, *exc) -> None:
        for server in (self.a, self.b):
            try:
                server.stop()
            finally:
                assert PASSWORD not in server.output()


@pytest.fixture
def pair(deployment, data_dir):
    seed(deployment, data_dir)
    with Pair(deployment, data_dir) as running:
        yield running


def new_code(base: str, verifier: str, scope: str = "read") -> str:
    query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": REDIRECT,
                          "code_challenge": s256(verifier), "code_challenge_method": "S256", "scope": scope, "state": "s"})
    _, response = login_session(base, query)
    return query_of(response.headers["location"])["code"]


def redeem(base: str, code: str, verifier: str) -> httpx.Response:
    return httpx.post(f"{base}/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                             "client_id": "bench-client"}, timeout=TIMEOUT)


def refresh(base: str, token: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or httpx).post(f"{base}/token", timeout=TIMEOUT,
                                  data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "bench-client"})


def simultaneously(bases: list[str], request) -> list[httpx.Response]:
    """Sends `request(client, base)` for every base at (nearly) the same instant: each thread opens
    its connection first and waits at a barrier, so the requests really race on the server."""
    barrier = threading.Barrier(len(bases))

    def one(base: str) -> httpx.Response:
        with httpx.Client(timeout=TIMEOUT) as client:
            client.get(f"{base}/health")
            barrier.wait()
            return request(client, base)

    with cf.ThreadPoolExecutor(max_workers=len(bases)) as pool:
        return list(pool.map(one, bases))


def test_a_flow_started_on_one_process_finishes_on_the_other(pair):
    verifier = secrets.token_urlsafe(48)
    query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": REDIRECT,
                          "code_challenge": s256(verifier), "code_challenge_method": "S256", "scope": "read", "state": "xyz"})
    browser = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
    start = browser.get(f"{pair.a.base}/authorize?{query}")                        # process A: session and pending request
    assert start.status_code == 303
    page = browser.get(pair.b.base + start.headers["location"])                     # process B: the login page
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    login = browser.post(pair.a.base + action, data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})  # back on A
    assert login.status_code == 303
    params = query_of(login.headers["location"])
    assert params["state"] == "xyz" and params["iss"] == pair.issuer

    tokens = redeem(pair.b.base, params["code"], verifier)                          # the code, redeemed on B
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert tokens.headers["cache-control"] == "no-store"
    # Both processes publish the same signing key, created once in the shared store.
    assert httpx.get(f"{pair.a.base}/jwks.json", timeout=TIMEOUT).json() == httpx.get(f"{pair.b.base}/jwks.json", timeout=TIMEOUT).json()
    kid = httpx.get(f"{pair.a.base}/jwks.json", timeout=TIMEOUT).json()["keys"][0]["kid"]
    header = json_segment(body["access_token"].split(".")[0])
    assert header["kid"] == kid

    rotated = refresh(pair.a.base, body["refresh_token"])                          # refresh on A
    assert rotated.status_code == 200, rotated.text
    again = refresh(pair.b.base, rotated.json()["refresh_token"])                   # and on B
    assert again.status_code == 200, again.text
    assert redeem(pair.a.base, params["code"], verifier).json()["error"] == "invalid_grant"


def json_segment(segment: str) -> dict:
    import json
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_twenty_parallel_redemptions_over_both_processes_give_one_token_response(pair):
    for _ in range(3):
        verifier = secrets.token_urlsafe(48)
        code = new_code(pair.a.base, verifier)
        responses = simultaneously([pair.a.base, pair.b.base] * 10, lambda client, base: client.post(
            f"{base}/token", data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                   "client_id": "bench-client"}))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [400] * 19, statuses
        assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400)
        winner = next(r for r in responses if r.status_code == 200).json()
        # A replay with the right verifier revokes what the code produced (docs/threat-model.md). Only a
        # replay that arrives after the winning redemption has finished can find what to revoke:
        # under load, all 19 racing requests may arrive while the winner is still issuing its
        # tokens (between consuming the code and leaving the used-code marker). So one more
        # replay, sent after every answer is in, is the one this assertion depends on.
        replay = redeem(pair.a.base, code, verifier)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
        assert refresh(pair.b.base, winner["refresh_token"]).status_code == 400


@pytest.mark.parametrize("family", range(8))
def test_twenty_parallel_refreshes_over_both_processes_never_fork_the_family(pair, family):
    # Eight families, each raced by 20 requests: one lucky ordering cannot hide a fork.
    verifier = secrets.token_urlsafe(48)
    first = redeem(pair.a.base, new_code(pair.a.base, verifier), verifier).json()["refresh_token"]
    responses = simultaneously([pair.a.base, pair.b.base] * 10, lambda client, base: refresh(base, first, client))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    newest = {r.json()["refresh_token"] for r in responses}
    assert len(newest) == 1, f"the family forked into {len(newest)} tokens"
    (second,) = newest
    third = refresh(pair.b.base, second)
    assert third.status_code == 200
    # The first token is two generations old now: presenting it is reuse, and kills the family.
    assert refresh(pair.a.base, first).json()["error"] == "invalid_grant"
    assert refresh(pair.a.base, third.json()["refresh_token"]).json()["error"] == "invalid_grant"


def test_redis_killed_and_restarted_mid_run(redis, data_dir):
    deployment = Deployment("redis", redis)
    seed(deployment, data_dir)
    with Pair(deployment, data_dir) as pair:
        registered = httpx.post(f"{pair.a.base}/register", json={"redirect_uris": ["http://127.0.0.1/cb"], "client_name": "DCR app"}, timeout=TIMEOUT)
        assert registered.status_code == 201
        dcr_client = registered.json()["client_id"]
        verifier = secrets.token_urlsafe(48)
        consumed_code = new_code(pair.a.base, verifier)
        tokens = redeem(pair.b.base, consumed_code, verifier).json()
        live_verifier = secrets.token_urlsafe(48)
        live_code = new_code(pair.a.base, live_verifier)

        redis.kill()
        # Outage: every endpoint fails closed, 503 with Retry-After; nothing is issued.
        outage = [refresh(pair.a.base, tokens["refresh_token"]), redeem(pair.b.base, live_code, live_verifier),
                  httpx.post(f"{pair.b.base}/register", json={"redirect_uris": ["https://x.example/cb"]}, timeout=TIMEOUT)]
        for response in outage:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"] == "server_error"
            assert "access_token" not in response.json()
        page = httpx.get(f"{pair.a.base}/authorize?" + up.urlencode({
            "response_type": "code", "client_id": "bench-client", "redirect_uri": REDIRECT,
            "code_challenge": s256(verifier), "code_challenge_method": "S256"}), timeout=TIMEOUT)
        assert page.status_code == 503 and "location" not in page.headers
        assert httpx.get(f"{pair.a.base}/health", timeout=TIMEOUT).status_code == 200  # the process itself stays up
        not_ready = httpx.get(f"{pair.a.base}/ready", timeout=TIMEOUT)  # but a load balancer takes it out
        assert not_ready.status_code == 503 and not_ready.json() == {"status": "unavailable"}
        assert not_ready.headers["cache-control"] == "no-store"

        redis.start()
        # Recovery by itself (reconnect backoff is at most 1 s); the deadline only turns a hang
        # into a failure.
        deadline = time.time() + START_TIMEOUT
        refreshed = refresh(pair.a.base, tokens["refresh_token"])
        while refreshed.status_code == 503 and time.time() < deadline:
            time.sleep(0.2)
            refreshed = refresh(pair.a.base, tokens["refresh_token"])
        assert refreshed.status_code == 200, "the refresh family survived the Redis crash: " + refreshed.text
        ready = httpx.get(f"{pair.a.base}/ready", timeout=TIMEOUT)
        while ready.status_code == 503 and time.time() < deadline:  # its last probe may predate the recovery
            time.sleep(0.2)
            ready = httpx.get(f"{pair.a.base}/ready", timeout=TIMEOUT)
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert redeem(pair.a.base, consumed_code, verifier).json()["error"] == "invalid_grant", "a consumed code stays consumed"
        assert redeem(pair.b.base, live_code, live_verifier).status_code == 200, "the outage consumed nothing"
        start = httpx.get(f"{pair.b.base}/authorize?" + up.urlencode({
            "response_type": "code", "client_id": dcr_client, "redirect_uri": "http://127.0.0.1:5555/cb",
            "code_challenge": s256(verifier), "code_challenge_method": "S256"}), timeout=TIMEOUT)
        assert start.status_code == 303, "the registered client survived the Redis crash"


def assert_fails_closed(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert "access_token" not in response.text


def authorize_page(base: str, verifier: str) -> httpx.Response:
    return httpx.get(f"{base}/authorize?" + up.urlencode({
        "response_type": "code", "client_id": "bench-client", "redirect_uri": REDIRECT,
        "code_challenge": s256(verifier), "code_challenge_method": "S256"}), timeout=TIMEOUT)


def until_available(request) -> httpx.Response:
    """Repeats `request()` while it answers 503: recovery happens by itself (reconnects back off
    to at most a second or two); the deadline only turns a hang into a failure."""
    deadline = time.time() + START_TIMEOUT
    response = request()
    while response.status_code == 503 and time.time() < deadline:
        time.sleep(0.2)
        response = request()
    return response


@pytest.mark.parametrize("name", ["postgres+memcached", "postgres+redis"])
def test_the_ephemeral_server_killed_mid_run_fails_closed_and_recovers(name, tmp_path, data_dir):
    """docs/security.md §10: with short-lived state unreachable, whatever needs it answers 503 and
    issues nothing, whatever needs only durable state keeps working, and Pixy recovers by itself.
    memcached restarts empty: a code it held is lost (refused, never usable twice); Redis with
    AOF keeps it."""
    deployment = start_deployment(name, tmp_path)
    try:
        seed(deployment, data_dir)
        with Pair(deployment, data_dir) as pair:
            verifier = secrets.token_urlsafe(48)
            tokens = redeem(pair.b.base, new_code(pair.a.base, verifier), verifier).json()
            live_verifier = secrets.token_urlsafe(48)
            live_code = new_code(pair.a.base, live_verifier)

            deployment.ephemeral.kill()
            assert_fails_closed(redeem(pair.b.base, live_code, live_verifier))
            # The client and its redirect URI come from the durable store, which is up: the browser
            # goes back to the client with RFC 6749 §4.1.2.1's temporarily_unavailable, and no code.
            page = authorize_page(pair.a.base, verifier)
            location = page.headers.get("location", "")
            assert page.status_code in (302, 303) and location.startswith(REDIRECT), page.text
            assert "error=temporarily_unavailable" in location and "code=" not in location, location
            assert_fails_closed(httpx.post(f"{pair.b.base}/register", json={"redirect_uris": ["https://x.example/cb"]},
                                           timeout=TIMEOUT))
            rotated = refresh(pair.a.base, tokens["refresh_token"])
            assert rotated.status_code == 200, "a refresh needs only the durable store: " + rotated.text

            deployment.ephemeral.start()
            after = until_available(lambda: redeem(pair.b.base, live_code, live_verifier))
            if name == "postgres+memcached":
                assert after.status_code == 400 and after.json()["error"] == "invalid_grant", "lost with memcached: " + after.text
            else:
                assert after.status_code == 200, "Redis kept the code through its restart: " + after.text
            assert redeem(pair.a.base, live_code, live_verifier).status_code == 400, "never usable twice"
            fresh_verifier = secrets.token_urlsafe(48)
            fresh = redeem(pair.a.base, new_code(pair.b.base, fresh_verifier), fresh_verifier)
            assert fresh.status_code == 200, "a new flow works after the restart: " + fresh.text
            assert refresh(pair.b.base, rotated.json()["refresh_token"]).status_code == 200
    finally:
        deployment.stop()


@pytest.mark.parametrize("name", ["postgres+memcached", "postgres+redis"])
def test_postgresql_restarted_mid_run_fails_closed_and_recovers(name, tmp_path, data_dir):
    """docs/security.md §10: with PostgreSQL down, every endpoint that needs durable state answers
    503 and consumes nothing; once it is back, the same processes carry on by themselves."""
    deployment = start_deployment(name, tmp_path)
    try:
        seed(deployment, data_dir)
        with Pair(deployment, data_dir) as pair:
            verifier = secrets.token_urlsafe(48)
            consumed_code = new_code(pair.a.base, verifier)
            tokens = redeem(pair.b.base, consumed_code, verifier).json()
            live_verifier = secrets.token_urlsafe(48)
            live_code = new_code(pair.a.base, live_verifier)

            deployment.durable.restart_stop()
            assert_fails_closed(refresh(pair.a.base, tokens["refresh_token"]))
            assert_fails_closed(redeem(pair.b.base, live_code, live_verifier))
            assert_fails_closed(httpx.post(f"{pair.a.base}/register", json={"redirect_uris": ["https://y.example/cb"]},
                                           timeout=TIMEOUT))
            page = authorize_page(pair.b.base, verifier)
            assert page.status_code == 503 and "location" not in page.headers
            assert httpx.get(f"{pair.a.base}/health", timeout=TIMEOUT).status_code == 200

            deployment.durable.start()
            refreshed = until_available(lambda: refresh(pair.a.base, tokens["refresh_token"]))
            assert refreshed.status_code == 200, "the family survived the restart: " + refreshed.text
            assert until_available(lambda: redeem(pair.b.base, live_code, live_verifier)).status_code == 200, \
                "the outage consumed nothing"
            assert redeem(pair.a.base, consumed_code, verifier).json()["error"] == "invalid_grant"
            registered = until_available(lambda: httpx.post(
                f"{pair.b.base}/register", json={"redirect_uris": ["https://z.example/cb"]}, timeout=TIMEOUT))
            assert registered.status_code == 201, registered.text
    finally:
        deployment.stop()


# The kill-9 test is driven by counts, not by time: process A is killed once the workers together
# have completed at least this much on it, while they are still sending. The deadline only turns
# a hang into a failure; a slow machine just takes longer to get there.
KILL_AFTER_REGISTRATIONS = 12
KILL_AFTER_REFRESHES_PER_FAMILY = 3
LOAD_DEADLINE = 300


def test_kill_9_of_one_process_under_load_loses_no_client_and_no_family(deployment, data_dir):
    seed(deployment, data_dir)
    # A refresh A rotated without answering is recovered on B by presenting the previous token
    # within the retry window (default 60 s). The window is made long here so that no slowness
    # between the kill and the refreshes on B can close it.
    with Pair(deployment, data_dir, extra=("--refresh-retry-window", "3600")) as pair:
        families = []
        for _ in range(8):
            verifier = secrets.token_urlsafe(48)
            families.append(redeem(pair.a.base, new_code(pair.a.base, verifier), verifier).json()["refresh_token"])
        progress = threading.Condition()   # guards everything below, and wakes the main thread
        latest = list(families)            # the newest refresh token each worker has *received*
        refreshes = [0] * len(families)    # refreshes answered 200, per family
        clients: list[str] = []
        errors: list[str] = []
        killed = threading.Event()         # set just before the SIGKILL: failures after it are expected
        stop = threading.Event()

        def record(update) -> None:
            with progress:
                update()
                progress.notify_all()

        def failed(what: str, error: Exception) -> None:
            # A connection error is expected only once A is being killed; before that it is a failure.
            if not killed.is_set():
                record(lambda: errors.append(f"{what} before the kill: {error!r}"))

        def received(index: int, token: str) -> None:
            latest[index] = token
            refreshes[index] += 1

        def refresher(index: int) -> None:
            while not stop.is_set():
                try:
                    response = refresh(pair.a.base, latest[index])
                except httpx.HTTPError as error:
                    return failed(f"refresh of family {index}", error)   # A died mid-request, or a failure
                if response.status_code == 200:
                    record(lambda: received(index, response.json()["refresh_token"]))
                else:
                    record(lambda: errors.append(f"refresh of family {index}: {response.status_code} {response.text}"))
                    return

        def registrar() -> None:
            while not stop.is_set():
                try:
                    response = httpx.post(f"{pair.a.base}/register", timeout=TIMEOUT, json={
                        "redirect_uris": [f"https://app-{secrets.token_hex(6)}.example/cb"], "client_name": "load"})
                except httpx.HTTPError as error:
                    return failed("registration", error)
                if response.status_code == 201:
                    client_id = response.json()["client_id"]
                    record(lambda: clients.append(client_id))
                else:
                    record(lambda: errors.append(f"registration: {response.status_code} {response.text}"))
                    return

        def enough() -> bool:
            return len(clients) >= KILL_AFTER_REGISTRATIONS and min(refreshes) >= KILL_AFTER_REFRESHES_PER_FAMILY

        workers = [threading.Thread(target=refresher, args=(i,), daemon=True) for i in range(len(latest))]
        workers += [threading.Thread(target=registrar, daemon=True) for _ in range(2)]
        for worker in workers:
            worker.start()
        try:
            with progress:
                reached = progress.wait_for(lambda: errors or enough(), timeout=LOAD_DEADLINE)
                assert not errors, errors[:3]
                assert reached, (f"no hang expected: after {LOAD_DEADLINE} s only {len(clients)} registrations and "
                                 f"refreshes per family {refreshes}")
                assert all(worker.is_alive() for worker in workers), "every worker is still sending when A is killed"
                killed.set()
                pair.a.process.kill()      # kill -9, mid-load: the workers are still sending to A
        finally:
            killed.set()
            stop.set()
        pair.a.process.wait(timeout=STOP_TIMEOUT)
        for worker in workers:
            worker.join(timeout=LOAD_DEADLINE)
        assert not any(worker.is_alive() for worker in workers), "a worker hung after the kill"
        assert not errors, errors[:3]
        assert len(clients) >= KILL_AFTER_REGISTRATIONS and min(refreshes) >= KILL_AFTER_REFRESHES_PER_FAMILY

        for index, token in enumerate(latest):
            # The token a worker last received works on B: if A rotated without answering, the
            # previous token still yields that same newest one (docs/security.md §5), so nothing forks.
            response = refresh(pair.b.base, token)
            assert response.status_code == 200, f"family {index} after {refreshes[index]} refreshes: {response.text}"
        listed = deployment.cli(data_dir, "clients", "list")
        missing = [client for client in clients if client not in listed]
        assert not missing, f"{len(missing)} of {len(clients)} registered clients were lost"


def test_failed_logins_are_counted_across_processes(pair):
    """docs/security.md §8 with replicas: five wrong passwords spread over A and B lock the account on
    both, instead of five per process."""
    query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": REDIRECT,
                          "code_challenge": s256(secrets.token_urlsafe(48)), "code_challenge_method": "S256"})

    def attempt(base: str, password: str) -> str:
        browser = httpx.Client(follow_redirects=False, timeout=TIMEOUT)
        start = browser.get(f"{base}/authorize?{query}")
        page = browser.get(base + start.headers["location"])
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        response = browser.post(base + action, data={"username": "alice", "password": password, "csrf_token": csrf})
        return response.headers["location"]

    for index in range(5):
        assert "error=invalid" in attempt([pair.a.base, pair.b.base][index % 2], "wrong password")
    assert "error=throttled" in attempt(pair.a.base, PASSWORD)
    assert "error=throttled" in attempt(pair.b.base, PASSWORD), "the other process knows too"


def test_the_registration_limit_is_shared_across_processes(deployment, data_dir):
    """docs/security.md §7 with replicas: a burst of 4 registrations per address holds for both
    processes together, not 4 each."""
    seed(deployment, data_dir)
    # Refill as good as never (one registration per 1000 minutes), so that however slowly these six
    # requests are answered, no token comes back between them.
    with Pair(deployment, data_dir, extra=("--registrations-per-minute", "0.001"), registration_burst=4) as pair:
        statuses = []
        for index in range(6):
            base = [pair.a.base, pair.b.base][index % 2]
            response = httpx.post(f"{base}/register", json={"redirect_uris": [f"https://app-{index}.example/cb"]}, timeout=TIMEOUT)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) > 0
        assert statuses == [201, 201, 201, 201, 429, 429], statuses


def test_pixy_migrate_applies_the_schema_once_and_admin_commands_use_it(postgres, data_dir):
    """docs/operations.md, PostgreSQL: `pixy migrate` applies the migrations alone; a second run
    finds nothing to do; the admin commands then work on the same database, and the password in
    the URL is never printed."""
    url = postgres.url.replace("postgres://pixy@", "postgres://pixy:not-checked-secret@")
    first = subprocess.run([str(pixy_binary()), "migrate", "--store", url], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "applied migrations v1" in first.stdout
    again = run_cli(data_dir, "migrate", store=url)
    assert "up to date" in again
    run_cli(data_dir, "users", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n", store=url)
    assert "alice" in run_cli(data_dir, "users", "list", store=url)
    wrong = subprocess.run([str(pixy_binary()), "migrate", "--store", url.replace(str(postgres.port), str(free_port()))],
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "not-checked-secret" not in wrong.stdout + wrong.stderr
