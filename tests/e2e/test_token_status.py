"""Live: /introspect and /revoke on the real binary, and the code-replay defence (docs/security.md §3, §9)."""
import base64
import hashlib
import re
import urllib.parse as up

import httpx

from conftest import TIMEOUT, login_session, query_of, run_cli


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_introspect_revoke_and_replay(server):
    out = run_cli(server.data_dir, "clients", "add", "--client-id", "resource-server", "--auth-method", "client_secret_basic", "--resource-server",
                  "--redirect-uri", "https://rs.example/unused")
    secret = re.search(r"client_secret=(\S+)", out).group(1)
    rs_auth = ("resource-server", secret)

    def token_for_bench():
        verifier = "b" * 60
        query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": "http://127.0.0.1:9999/cb",
                              "code_challenge": s256(verifier), "code_challenge_method": "S256"})
        _, response = login_session(server.base, query)
        code = query_of(response.headers["location"])["code"]
        form = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier, "client_id": "bench-client"}
        return form, httpx.post(f"{server.base}/token", data=form, timeout=TIMEOUT).json()["access_token"]

    form, access_token = token_for_bench()
    active = httpx.post(f"{server.base}/introspect", data={"token": access_token}, auth=rs_auth, timeout=TIMEOUT)
    assert active.status_code == 200 and active.json()["active"] is True
    assert active.json()["client_id"] == "bench-client"

    revoked = httpx.post(f"{server.base}/revoke", data={"token": access_token, "client_id": "bench-client"}, timeout=TIMEOUT)
    assert revoked.status_code == 200
    assert httpx.post(f"{server.base}/introspect", data={"token": access_token}, auth=rs_auth, timeout=TIMEOUT).text == '{"active":false}'

    form, second = token_for_bench()
    replay = httpx.post(f"{server.base}/token", data=form, timeout=TIMEOUT)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert httpx.post(f"{server.base}/introspect", data={"token": second}, auth=rs_auth, timeout=TIMEOUT).text == '{"active":false}'
    assert secret not in server.output() and access_token not in server.output()


def test_refresh_family_survives_a_restart(seeded):
    from conftest import PixyServer
    first = PixyServer(seeded).start()
    try:
        verifier = "r" * 50
        query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": "http://127.0.0.1:9999/cb",
                              "code_challenge": s256(verifier), "code_challenge_method": "S256", "scope": "read"})
        _, response = login_session(first.base, query)
        code = query_of(response.headers["location"])["code"]
        tokens = httpx.post(f"{first.base}/token", data={"grant_type": "authorization_code", "code": code,
                                                         "code_verifier": verifier, "client_id": "bench-client"}, timeout=TIMEOUT).json()
        rt1 = tokens["refresh_token"]
    finally:
        first.stop()
    second = PixyServer(seeded, port=first.port).start()
    try:
        refreshed = httpx.post(f"{second.base}/token", data={"grant_type": "refresh_token", "refresh_token": rt1,
                                                             "client_id": "bench-client"}, timeout=TIMEOUT)
        assert refreshed.status_code == 200, refreshed.text
        rt2 = refreshed.json()["refresh_token"]
        assert rt2 != rt1 and refreshed.json()["scope"] == "read"
        again = httpx.post(f"{second.base}/token", data={"grant_type": "refresh_token", "refresh_token": rt2, "client_id": "bench-client"}, timeout=TIMEOUT)
        assert again.status_code == 200
        reuse = httpx.post(f"{second.base}/token", data={"grant_type": "refresh_token", "refresh_token": rt1, "client_id": "bench-client"}, timeout=TIMEOUT)
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    finally:
        second.stop()
    assert rt1 not in second.output() and rt1 not in first.output()
