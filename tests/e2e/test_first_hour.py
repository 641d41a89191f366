"""Live: what a newcomer meets in the first hour, on the real binary: a failed first start does
not lose the one-time admin password."""
import re
import socket
import subprocess
import time

from conftest import PixyServer, login_session, pixy_binary, query_of, run_cli


def test_a_failed_first_start_does_not_lose_the_admin_password(data_dir):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    failed = subprocess.run([str(pixy_binary()), "serve", "--port", str(port), "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=120)
    busy.close()
    assert failed.returncode != 0, "the port was busy"
    assert "password:" not in failed.stdout + failed.stderr, "nothing was created, so nothing was shown"
    assert run_cli(data_dir, "users", "list").strip() == "", "no user exists yet"

    server = PixyServer(data_dir).start()
    try:
        deadline = time.time() + 60
        while not (match := re.search(r"password: (\S+)", server.output())) and time.time() < deadline:
            time.sleep(0.1)
        assert match, server.output()
        run_cli(data_dir, "clients", "add", "--client-id", "first", "--redirect-uri", "http://127.0.0.1:9999/cb", "--skip-consent")
        query = "response_type=code&client_id=first&code_challenge=" + "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" + \
                "&code_challenge_method=S256&scope=read"
        _, response = login_session(server.base, query, username="admin", password=match.group(1))
        assert "code" in query_of(response.headers["location"]), "the password shown on the first successful start works"
    finally:
        server.stop()
