"""Live: what a newcomer meets in the first hour, on the real binary: a failed first start does
not lose the one-time admin password."""
import json
import re
import socket
import subprocess
import time
import urllib.parse as up

import httpx

from conftest import TIMEOUT, PixyServer, free_port, login_session, pixy_binary, query_of, run_cli


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


def pixy(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(pixy_binary()), *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_typos_do_not_create_empty_stores(tmp_path, data_dir):
    missing = tmp_path / "doesnotexist"
    listed = pixy("users", "list", "--data-dir", str(missing))
    assert listed.returncode == 1, "a runtime failure, not a usage error (64)"
    assert "no such data directory" in listed.stderr and len(listed.stderr.strip().splitlines()) == 1
    assert not missing.exists(), "nothing was created"
    empty = pixy("clients", "list", "--data-dir", str(data_dir))
    assert empty.returncode == 1 and "no Pixy store" in empty.stderr and "--create" in empty.stderr
    memory = pixy("clients", "add", "--store", "memory", "--redirect-uri", "http://127.0.0.1/cb")
    assert memory.returncode == 1 and "memory store lives only inside" in memory.stderr
    created = pixy("users", "add", "bob", "--password-stdin", "--create", "--data-dir", str(data_dir), stdin="a long password\n")
    assert created.returncode == 0 and (data_dir / "pixy.sqlite").exists()
    gone = pixy("users", "remove", "nobody", "--data-dir", str(data_dir))
    assert gone.returncode == 1 and "no user nobody" in gone.stderr


def test_unusable_values_are_refused_in_one_line(tmp_path, data_dir):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    unusable = pixy("serve", "--port", "1", "--data-dir", str(a_file / "sub"))
    assert unusable.returncode == 1 and "NSCocoaErrorDomain" not in unusable.stderr and "cannot open the store" in unusable.stderr
    for args, expected in [(("--log-level", "loud"), "--log-level must be one of"), (("--scopes", ""), "--scopes must name at least one scope"),
                           (("--issuer", "https://auth.example.com/"), "must not end with a slash")]:
        refused = pixy("serve", "--data-dir", str(data_dir), *args)
        assert refused.returncode == 64 and expected in refused.stderr, (args, refused.stderr)
    run_cli(data_dir, "users", "list", "--create")
    url_id = pixy("clients", "add", "--client-id", "https://app.example.com/client.json", "--redirect-uri", "https://app.example.com/cb",
                  "--data-dir", str(data_dir))
    assert url_id.returncode == 64 and "must not be an https URL" in url_id.stderr
    warned = pixy("clients", "add", "--client-id", "adm", "--scope", "admin", "--redirect-uri", "https://app.example.com/cb",
                  "--data-dir", str(data_dir))
    assert warned.returncode == 0 and "warning: admin is not in the server's scopes" in warned.stderr


def test_readme_five_minutes_with_pkce_listen_in_chromium(data_dir):
    """README "Five minutes with Pixy", as written: serve on the defaults (its own port), the demo
    client, `pixy pkce … --listen`, headless Chromium through sign-in and consent (it also asks the
    listener for /favicon.ico), then the printed token request run by a shell."""
    import selenium.webdriver.support.expected_conditions as EC
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_browser import make_driver

    server = PixyServer(data_dir).start()
    deadline = time.time() + 60
    while not (match := re.search(r"password: (\S+)", server.output())) and time.time() < deadline:
        time.sleep(0.1)
    assert match, server.output()
    admin_password = match.group(1)
    listener_port = free_port()
    redirect = f"http://127.0.0.1:{listener_port}/cb"
    run_cli(data_dir, "clients", "add", "--client-id", "demo", "--name", "Demo app", "--redirect-uri", redirect)
    pkce = subprocess.Popen([str(pixy_binary()), "pkce", "--client-id", "demo", "--redirect-uri", redirect, "--scope", "read",
                             "--listen", "--issuer", server.base], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    driver = make_driver(javascript=True)
    try:
        lines = []
        while not any(line.strip().startswith(server.base + "/authorize?") for line in lines):
            line = pkce.stdout.readline()
            assert line, "pixy pkce ended early: " + pkce.stderr.read()
            lines.append(line)
        url = next(line.strip() for line in lines if line.strip().startswith(server.base + "/authorize?"))
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(EC.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(admin_password)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "button[value=approve]"))).click()
        # Wait for the listener's page itself: the consent page also says "Signed in as …", so
        # waiting on those words could pass before the browser has left it.
        wait.until(lambda d: d.current_url.startswith(redirect))
        wait.until(lambda d: "Your code:" in d.page_source)
        assert "<h1>Signed in</h1>" in driver.page_source
        out, err = pkce.communicate(timeout=60)
        assert pkce.returncode == 0, err
        curl = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl -s "))
        answer = json.loads(subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=60, check=True).stdout)
        assert answer["token_type"] == "Bearer" and answer["scope"] == "read" and "refresh_token" in answer
    finally:
        driver.quit()
        if pkce.poll() is None:
            pkce.kill()
        server.stop()


def test_pkce_listener_ignores_other_paths_and_foreign_state(data_dir):
    """The listener answers only its path (a favicon request is 404 and ignored) and only the state
    it sent (a forged redirect is refused and ignored)."""
    port = free_port()
    redirect = f"http://127.0.0.1:{port}/cb"
    pkce = subprocess.Popen([str(pixy_binary()), "pkce", "--client-id", "demo", "--redirect-uri", redirect, "--listen",
                             "--issuer", "http://127.0.0.1:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("Waiting for the browser" in line for line in lines):
            line = pkce.stdout.readline()
            assert line, pkce.stderr.read()
            lines.append(line)
        state = up.parse_qs(up.urlparse(next(l.strip() for l in lines if "/authorize?" in l)).query)["state"][0]
        assert httpx.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=TIMEOUT).status_code == 404
        assert httpx.get(f"{redirect}?code=forged&state=not-yours", timeout=TIMEOUT).status_code == 400
        assert pkce.poll() is None, "still waiting for the real redirect"
        assert httpx.get(f"{redirect}?code=the-real-code&state={state}", timeout=TIMEOUT).status_code == 200
        out, _ = pkce.communicate(timeout=60)
        assert "code=the-real-code" in out and "forged" not in out
    finally:
        if pkce.poll() is None:
            pkce.kill()
