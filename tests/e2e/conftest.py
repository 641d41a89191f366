"""Fixtures for live tests: the real `pixy` binary on a free loopback port and a fresh data dir.

Nothing here skips: a missing binary or browser is a failure, because in CI
(CI=true) a skipped test is a failed promise.
"""
import os
import re
import socket
import subprocess
import time
import urllib.parse as up
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"

# Every bound below only turns a hang into a failure: none may be reached by a slow but healthy
# run on a busy machine (a debug build, bcrypt cost 12, two cores shared with compilers). No test
# asserts on how fast anything is, or on how much happened within a fixed time.
TIMEOUT = 60          # one HTTP request, in seconds
START_TIMEOUT = 60    # a server process answering /health (or PING) after it was started
STOP_TIMEOUT = 60     # a server process ending after SIGTERM (graceful shutdown)


def pixy_binary() -> Path:
    path = Path(os.environ.get("PIXY_BIN", REPO / ".build" / "debug" / "pixy"))
    assert path.exists(), f"pixy binary not found at {path}: run `swift build` first (scripts/test does)"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(data_dir: Path, *args: str, stdin: str | None = None, store: str | None = None,
            ephemeral: str | None = None) -> str:
    location = ["--store", store] if store else ["--data-dir", str(data_dir)]
    if ephemeral:
        location += ["--ephemeral-store", ephemeral]
    result = subprocess.run([str(pixy_binary()), *args, *location], input=stdin,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"pixy {' '.join(args)} failed: {result.stderr}"
    return result.stdout


def terminate(process: subprocess.Popen | None, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, then SIGKILL after `timeout` seconds; returns whether the process ended on SIGTERM
    (or had already ended)."""
    if not process or process.poll() is not None:
        return True
    process.terminate()
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


class HealthCheckedProcess:
    """A server process with its output in a log file: started and waited for until `/health`
    answers 200, stopped by its own PID. A server that ignores SIGTERM for STOP_TIMEOUT seconds
    fails the test (graceful shutdown is broken)."""

    name = "server"

    def __init__(self, arguments: list[str], base: str, log_path: Path, verify=True):
        self.arguments = arguments
        self.base = base
        self.log_path = log_path
        self.verify = verify
        self.process: subprocess.Popen | None = None

    def start(self):
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.arguments, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            assert self.process.poll() is None, f"{self.name} exited early:\n{self.log_path.read_text()}"
            try:
                if httpx.get(self.base + "/health", timeout=5, verify=self.verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not answer /health:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        graceful = terminate(self.process)
        self.log.close()
        if not graceful:
            raise AssertionError(f"{self.name} did not shut down within {STOP_TIMEOUT} s of SIGTERM (graceful shutdown is broken)")

    def output(self) -> str:
        return self.log_path.read_text()


class PixyServer(HealthCheckedProcess):
    """A running `pixy serve`. With `--tls-cert` in `extra` the base URL is https, and `verify` (an
    SSL context with the test CA) checks the health probe."""

    name = "pixy"

    def __init__(self, data_dir: Path, port: int | None = None, extra: tuple[str, ...] = (), verify=True):
        self.data_dir = data_dir
        self.port = port or free_port()
        scheme = "https" if "--tls-cert" in extra else "http"
        super().__init__([str(pixy_binary()), "serve", "--port", str(self.port), "--data-dir", str(data_dir), *extra],
                         f"{scheme}://127.0.0.1:{self.port}", data_dir / f"serve-{self.port}.log", verify)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pixy-data"
    directory.mkdir()
    return directory


@pytest.fixture
def seeded(data_dir: Path) -> Path:
    """A data dir with user alice, the probe/bench client and a browser client that needs consent."""
    run_cli(data_dir, "users", "add", "alice", "--password-stdin", "--create", stdin=PASSWORD + "\n")
    run_cli(data_dir, "clients", "add", "--client-id", "bench-client", "--redirect-uri", "http://127.0.0.1:9999/cb",
            "--skip-consent", "--name", "Bench")
    run_cli(data_dir, "clients", "add", "--client-id", "web-app", "--redirect-uri", "http://127.0.0.1/callback",
            "--name", "Example <Web> App")
    return data_dir


@pytest.fixture
def server(seeded: Path):
    running = PixyServer(seeded).start()
    yield running
    running.stop()
    # No secret ever reaches the log (docs/security.md §10).
    assert PASSWORD not in running.output()


def login_session(base: str, authorize_query: str, username: str = "alice", password: str = PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    """Drives /authorize and the login page through the documented form contract with httpx.
    Returns the client (holding the session cookie) and the response to the login POST."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=TIMEOUT)
    start = client.get("/authorize?" + authorize_query)
    assert start.status_code == 303, start.text
    page = client.get(start.headers["location"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    response = client.post(action, data={"username": username, "password": password, "csrf_token": csrf})
    assert response.status_code == 303
    return client, response


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in up.parse_qs(up.urlparse(location).query).items()}


def redis_binary() -> str:
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if Path(candidate).exists():
            return candidate
    raise AssertionError("redis-server not found: scripts/test installs it (apt-get install redis-server)")


class RedisProcess:
    """A real redis-server on a free loopback port in its own directory, stopped by its PID.

    With `aof`, every write is fsynced before Redis answers (appendfsync always), the
    configuration docs/operations.md recommends, so a SIGKILL loses nothing acknowledged."""

    def __init__(self, directory: Path, aof: bool = True, extra: tuple[str, ...] = ()):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.arguments = [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
                          "--save", "", "--maxmemory-policy", "noeviction", "--logfile", str(directory / "redis.log")]
        if aof:
            self.arguments += ["--appendonly", "yes", "--appendfsync", "always"]
        self.arguments += list(extra)
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisProcess":
        self.process = subprocess.Popen(self.arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            assert self.process.poll() is None, "redis-server exited early: " + (self.directory / "redis.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(64).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer PING")

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed that was not already."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        terminate(self.process)


@pytest.fixture
def redis(tmp_path: Path):
    running = RedisProcess(tmp_path / "redis").start()
    yield running
    running.stop()


def wait_for_port(port: int, process: subprocess.Popen, what: str, probe: bytes, answer: bytes, log: Path | None = None) -> None:
    """Waits until `process` answers `probe` with `answer` on `port` (bounded only against a hang)."""
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        assert process.poll() is None, f"{what} exited early" + (":\n" + log.read_text() if log and log.exists() else "")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                if not probe:
                    return
                connection.sendall(probe)
                if connection.recv(256).startswith(answer):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} did not answer on port {port}")


def unprivileged() -> dict:
    """Runs a server as `nobody` when the tests run as root (PostgreSQL refuses root; memcached
    needs -u): the keyword arguments for subprocess."""
    if os.geteuid() != 0:
        return {}
    import pwd
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


class MemcachedProcess:
    """A real memcached on a free loopback port, stopped by its PID. It keeps everything in memory:
    a restart starts empty, as a real memcached does."""

    def __init__(self, extra: tuple[str, ...] = ()):
        binary = Path("/usr/bin/memcached")
        assert binary.exists(), "memcached not found: scripts/test installs it (apt-get install memcached)"
        self.port = free_port()
        self.url = f"memcached://127.0.0.1:{self.port}"
        self.arguments = [str(binary), "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64", *extra]
        if os.geteuid() == 0:
            self.arguments += ["-u", "nobody"]
        self.process: subprocess.Popen | None = None

    def start(self) -> "MemcachedProcess":
        self.process = subprocess.Popen(self.arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process, "memcached", b"version\r\n", b"VERSION")
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        terminate(self.process)


class PostgresProcess:
    """A throwaway PostgreSQL cluster: initdb in a fresh directory, `postgres` on a free loopback
    port, run as `nobody` when the tests run as root, stopped by its PID (SIGINT: fast shutdown)
    and its directory removed."""

    def __init__(self):
        import glob
        import tempfile
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        assert candidates, "PostgreSQL not found: scripts/test installs it (apt-get install postgresql)"
        self.bin = Path(candidates[-1]).parent
        self.directory = Path(tempfile.mkdtemp(prefix="pixy-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgres://pixy@127.0.0.1:{self.port}/postgres?sslmode=disable"
        if os.geteuid() == 0:
            import pwd
            nobody = pwd.getpwnam("nobody")
            os.chown(self.directory, nobody.pw_uid, nobody.pw_gid)
        result = subprocess.run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "pixy", "-A", "trust", "--no-sync",
                                 "-E", "UTF8", "--locale", "C"], capture_output=True, text=True, timeout=300, **unprivileged())
        assert result.returncode == 0, "initdb failed: " + result.stderr
        self.process: subprocess.Popen | None = None

    def start(self) -> "PostgresProcess":
        log = self.directory / "postgres.log"
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.directory),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=open(log, "a"), stderr=subprocess.STDOUT, **unprivileged())
        # Ready when pg_isready says so (a bare TCP accept comes before recovery ends).
        deadline = time.time() + START_TIMEOUT
        while time.time() < deadline:
            assert self.process.poll() is None, "postgres exited early:\n" + log.read_text()
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "pixy"],
                                   capture_output=True, timeout=60)
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        raise AssertionError("postgres did not become ready:\n" + log.read_text())

    def restart_stop(self) -> None:
        """Fast shutdown (SIGINT): open connections are cut, nothing committed is lost."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(2)
            self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        import shutil
        self.restart_stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def memcached():
    running = MemcachedProcess().start()
    yield running
    running.stop()


@pytest.fixture
def postgres():
    running = PostgresProcess().start()
    yield running
    running.stop()
