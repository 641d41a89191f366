"""Live: the neutral correctness probe (tests/probe/probe.py) against `pixy serve`.
All four negatives must be answered as the standard says, and a failed verifier burns the code."""
import json
import subprocess
import sys
import urllib.parse as up

from conftest import REPO, TIMEOUT, login_session

PROBE = REPO / "tests" / "probe" / "probe.py"


def test_probe_all_negatives_as_the_standard_says(server, tmp_path):
    query = up.urlencode({"response_type": "code", "client_id": "bench-client", "redirect_uri": "http://127.0.0.1:9999/cb",
                          "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    client, _ = login_session(server.base, query)
    cookie = f"pixy_session={client.cookies['pixy_session']}"  # http issuer: no __Host- prefix
    out = tmp_path / "probe.json"
    result = subprocess.run([sys.executable, str(PROBE), "--name", "pixy",
                             "--authorize", f"{server.base}/authorize", "--token", f"{server.base}/token",
                             "--client-id", "bench-client", "--redirect-uri", "http://127.0.0.1:9999/cb",
                             "--cookie", cookie, "--json", str(out), "--timeout", str(TIMEOUT)],
                            capture_output=True, text=True, timeout=300)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads(out.read_text())
    assert record["happy"] is True
    assert record["happy_authorize"]["state_ok"] is True
    assert record["n1_wrong_verifier"]["expected"] is True
    assert record["n1_wrong_verifier"]["code_still_usable_after"] is False, "docs/security.md §3: a failed attempt burns the code"
    assert record["n2_replay"]["expected"] is True
    assert record["n3_missing_challenge"]["expected"] is True and record["n3_missing_challenge"]["code"] is None
    assert record["n4_plain"]["expected"] is True and record["n4_plain"]["code"] is None
    assert "DEVIATES" not in result.stdout and "SKIP" not in result.stdout
