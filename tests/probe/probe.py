#!/usr/bin/env python3
"""probe.py - a correctness probe for any OAuth 2 authorization server with PKCE.

Pixy's own copy of the neutral probe the benchmark peers use (Benchmarks/bench-flows runs that
copy from ../shared/bench/peers before timing each server); tests/e2e/test_probe.py runs this one
against `pixy serve` (scripts/test), so the tests need nothing outside the repository. It speaks
plain HTTP to two URLs and knows nothing about Pixy, so it judges any server the same way.

What it checks (RFC 6749 §4.1, RFC 7636, OAuth 2.1):

1 happy path : random 64-char verifier, S256 challenge, GET authorize (no
               redirect following), extract code from Location, POST token,
               assert 200 + access_token, and that `state` comes back unchanged.
4 negatives (expected per OAuth 2.1 / RFC 7636; what the server actually
does is recorded, a deviation is reported as DEVIATES, not as a crash):
  N1 wrong verifier            -> 400 invalid_grant
  N2 replayed code             -> 400 invalid_grant
  N3 authorize w/o challenge   -> error (400, or 302 with error=)
  N4 code_challenge_method=plain -> error
Extra info (not scored): after N1, is the code still redeemable with the
right verifier; if N3/N4 issue a code, what does the token endpoint do with it.
Pixy's test asserts all four negatives and that N1 burns the code (docs/security.md §2, §3).

Requirements on the server under test: a public client (no secret) that may use the
authorization code grant with the redirect URI given (nothing needs to listen there: redirects
are never followed), and a GET to the authorize endpoint that answers with the redirect at once,
i.e. a user already signed in (pass its session with --cookie) and consent that is skipped.

Run it against any server (needs Python 3 and httpx):

  python3 tests/probe/probe.py --authorize http://127.0.0.1:8080/authorize \
      --token http://127.0.0.1:8080/token --client-id bench-client \
      --redirect-uri http://127.0.0.1:9999/cb [--scope S] [--cookie 'name=value'] \
      [--extra-auth 'raw&query'] [--json out.json] [--timeout 10]

For Pixy: `pixy clients add --client-id bench-client --redirect-uri http://127.0.0.1:9999/cb
--skip-consent`, sign in once in a browser (or as tests/e2e/conftest.py `login_session` does)
and pass `--cookie 'pixy_session=<value>'` (`__Host-pixy_session` when the issuer is https).

Exit status: 0 if the happy path works (negatives are only recorded),
1 otherwise. --json FILE writes the full record.
"""
import argparse
import base64
import hashlib
import json
import secrets
import sys
import urllib.parse as up

import httpx

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--authorize", required=True, help="authorize endpoint URL")
p.add_argument("--token", required=True, help="token endpoint URL")
p.add_argument("--client-id", default="bench-client")
p.add_argument("--redirect-uri", default="http://127.0.0.1:9999/cb")
p.add_argument("--scope", default="")
p.add_argument("--cookie", default="", help="Cookie header for the authorize request")
p.add_argument("--extra-auth", default="", help='extra raw query for authorize, e.g. "g_continue"')
p.add_argument("--json", default="", help="write results as JSON to this file")
p.add_argument("--name", default="", help="label for the output")
p.add_argument("--timeout", type=float, default=10, help="seconds to wait for each HTTP response")
a = p.parse_args()

http = httpx.Client(timeout=a.timeout, follow_redirects=False)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def new_verifier():
    # 64 chars from the unreserved set [A-Za-z0-9-._~] (RFC 7636 4.1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    return "".join(secrets.choice(alphabet) for _ in range(64))


def s256(v):
    return b64url(hashlib.sha256(v.encode("ascii")).digest())


def authorize(challenge="__auto__", method="S256", verifier=None):
    state = secrets.token_urlsafe(8)
    params = {"response_type": "code", "client_id": a.client_id,
              "redirect_uri": a.redirect_uri, "state": state}
    if a.scope:
        params["scope"] = a.scope
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    url = a.authorize + "?" + up.urlencode(params)
    if a.extra_auth:
        url += "&" + a.extra_auth
    headers = {"Cookie": a.cookie} if a.cookie else {}
    r = http.get(url, headers=headers)
    loc = r.headers.get("location", "")
    q = up.parse_qs(up.urlparse(loc).query) if loc else {}
    return {
        "status": r.status_code,
        "location": loc[:200],
        "code": q.get("code", [None])[0],
        "error": q.get("error", [None])[0] or _json_err(r),
        "state_ok": q.get("state", [None])[0] == state if "code" in q else None,
        "body": r.text[:200],
    }


def _json_err(r):
    try:
        return r.json().get("error")
    except Exception:
        return None


def token(code, verifier):
    data = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": a.redirect_uri, "client_id": a.client_id}
    if verifier is not None:
        data["code_verifier"] = verifier
    r = http.post(a.token, data=data)
    try:
        j = r.json()
    except Exception:
        j = {}
    return {"status": r.status_code, "error": j.get("error") if isinstance(j, dict) else None,
            "access_token": bool(isinstance(j, dict) and j.get("access_token")),
            "keys": sorted(j.keys()) if isinstance(j, dict) else [],
            "body": r.text[:160]}


def fmt(t):
    return f"HTTP {t['status']}" + (f" error={t['error']}" if t.get("error") else "") + \
        (" access_token issued" if t.get("access_token") else "")


res = {"name": a.name, "authorize": a.authorize, "token": a.token}
ok_all = True

# ---------------------------------------------------------------- happy path
v = new_verifier()
az = authorize(s256(v))
res["happy_authorize"] = az
if not az["code"]:
    print(f"[FAIL] happy path: authorize gave no code: HTTP {az['status']} {az['location'] or az['body']}")
    res["happy"] = False
    ok_all = False
else:
    tk = token(az["code"], v)
    res["happy_token"] = tk
    res["happy"] = tk["status"] == 200 and tk["access_token"]
    print(f"[{'PASS' if res['happy'] else 'FAIL'}] happy path: authorize HTTP {az['status']} "
          f"(state echoed: {az['state_ok']}), token {fmt(tk)}; response fields: {','.join(tk['keys'])}")
    ok_all = ok_all and res["happy"]

    # N2 replay of the code just redeemed
    rp = token(az["code"], v)
    exp = rp["status"] == 400 and rp["error"] == "invalid_grant"
    res["n2_replay"] = dict(rp, expected=exp)
    print(f"[{'PASS' if exp else 'DEVIATES'}] N2 replayed code: {fmt(rp)} (expected 400 invalid_grant)")


def verdict_authz(r):
    """True when the authorize endpoint refused (no code issued)."""
    return r["code"] is None and r["status"] in (302, 303, 400, 401, 403)


# ------------------------------------------------------------- N1 wrong verifier
v1 = new_verifier()
az1 = authorize(s256(v1))
if az1["code"]:
    wv = token(az1["code"], new_verifier())
    exp = wv["status"] == 400 and wv["error"] == "invalid_grant"
    after = token(az1["code"], v1)
    res["n1_wrong_verifier"] = dict(wv, expected=exp, code_still_usable_after=after["status"] == 200)
    print(f"[{'PASS' if exp else 'DEVIATES'}] N1 wrong verifier: {fmt(wv)} (expected 400 invalid_grant); "
          f"same code + right verifier afterwards: {fmt(after)}")
else:
    res["n1_wrong_verifier"] = {"skipped": "no code"}
    print("[SKIP] N1: no code")

# --------------------------------------------------- N3 missing code_challenge
az3 = authorize(challenge=None, method=None)
exp = verdict_authz(az3)
n3 = dict(az3, expected=exp)
desc = (f"HTTP {az3['status']}" + (f" error={az3['error']}" if az3["error"] else "")
        + (" CODE ISSUED" if az3["code"] else ""))
if az3["code"]:
    t3 = token(az3["code"], None)
    n3["token_without_verifier"] = t3
    desc += f"; token w/o verifier: {fmt(t3)}"
res["n3_missing_challenge"] = n3
print(f"[{'PASS' if exp else 'DEVIATES'}] N3 authorize without code_challenge: {desc} (expected error)")

# ------------------------------------------------------ N4 method=plain
v4 = new_verifier()
az4 = authorize(challenge=v4, method="plain")
exp = verdict_authz(az4)
n4 = dict(az4, expected=exp)
desc = (f"HTTP {az4['status']}" + (f" error={az4['error']}" if az4["error"] else "")
        + (" CODE ISSUED" if az4["code"] else ""))
if az4["code"]:
    t4 = token(az4["code"], v4)
    n4["token_plain_verifier"] = t4
    desc += f"; token with plain verifier: {fmt(t4)}"
res["n4_plain"] = n4
print(f"[{'PASS' if exp else 'DEVIATES'}] N4 code_challenge_method=plain: {desc} (expected error)")

if a.json:
    with open(a.json, "w") as f:
        json.dump(res, f, indent=2)
sys.exit(0 if ok_all else 1)
