"""(b) REST API: the same scenario against a real `liaison serve` subprocess.

The server gets its own temporary instance directory (secret key, SQLite file) or its own
PostgreSQL database, is filled by `liaison demo`, and is called with tokens from
`liaison users token`. Requests are sequential over one keep-alive connection.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.machine import PROJECT_ROOT
from bench.scenario import STEPS, USERNAMES, new_item_payload
from bench.stats import Summary


def liaison_executable() -> str:
    beside_python = Path(sys.executable).parent / "liaison"
    if beside_python.exists():
        return str(beside_python)
    return str(PROJECT_ROOT / ".venv" / "bin" / "liaison")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HttpResult:
    completions: list[float] = field(default_factory=list)
    registrations: list[float] = field(default_factory=list)
    requests: int = 0
    connections: int = 0
    startup_seconds: float = 0.0
    server_cpu_seconds: float | None = None  # server process CPU over the measured requests
    measured_requests: int = 0

    @property
    def summary(self) -> Summary:
        return Summary.of_seconds(self.completions)


class ApiClient:
    """Sequential JSON requests over one persistent HTTP/1.1 connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: http.client.HTTPConnection | None = None
        self.requests = 0
        self.connections = 0

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connections += 1
        return self.connection

    def call(self, method: str, path: str, token: str | None = None, body=None) -> tuple[int, dict]:
        headers = {"Accept": "application/json"}
        payload = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        connection = self._connect()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()  # server dropped the idle connection: reconnect once
            connection = self._connect()
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
        raw = response.read()
        self.requests += 1
        if response.will_close:
            self.close()
        return response.status, (json.loads(raw) if raw else {})

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class Server:
    """`liaison demo`, tokens, then `liaison serve --no-scheduler` on a free port."""

    def __init__(self, instance_dir: Path, database_url: str | None) -> None:
        self.instance_dir = instance_dir
        self.env = dict(os.environ)
        self.env["LIAISON_INSTANCE_DIR"] = str(instance_dir)
        self.env.pop("LIAISON_NOW", None)
        if database_url:
            self.env["LIAISON_DATABASE_URL"] = database_url
        else:
            self.env.pop("LIAISON_DATABASE_URL", None)  # default: instance_dir/liaison.db
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = instance_dir / "serve.log"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [liaison_executable(), *args],
            env=self.env,
            cwd=self.instance_dir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"liaison {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [liaison_executable(), "serve", "--no-scheduler", "--port", str(self.port)],
            env=self.env,
            cwd=self.instance_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"liaison serve exited:\n{self.log_path.read_text()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/api/v1/openapi.json")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"liaison serve did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def process_cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process from /proc (clock-tick resolution), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _open_task_id(item: dict, expected: str) -> int:
    open_tasks = item.get("open_tasks") or []
    if len(open_tasks) != 1 or open_tasks[0]["name"] != expected:
        raise AssertionError(f"expected one open task {expected!r}, got {open_tasks!r}")
    return open_tasks[0]["id"]


def _walk(client: ApiClient, tokens: dict[str, str], index: int, result: HttpResult | None) -> None:
    t0 = time.perf_counter()
    status, item = client.call(
        "POST", "/api/v1/items", tokens["registrar"], new_item_payload(index)
    )
    elapsed = time.perf_counter() - t0
    if status != 201:
        raise AssertionError(f"POST /items -> {status}: {item}")
    if result is not None:
        result.registrations.append(elapsed)
    task_id = _open_task_id(item, STEPS[0][1])
    for position, (username, bpmn_id, data) in enumerate(STEPS):
        t0 = time.perf_counter()
        status, item = client.call(
            "POST", f"/api/v1/tasks/{task_id}/complete", tokens[username], {"data": data}
        )
        elapsed = time.perf_counter() - t0
        if status != 200:
            raise AssertionError(f"complete {bpmn_id} -> {status}: {item}")
        if result is not None:
            result.completions.append(elapsed)
        if position + 1 < len(STEPS):
            task_id = _open_task_id(item, STEPS[position + 1][1])
    if item.get("status") != "filed":
        raise AssertionError(f"item {item.get('id')} not filed: {item.get('status')}")


def run(instance_dir: Path, database_url: str | None, n: int, warmup: int) -> HttpResult:
    server = Server(instance_dir, database_url)
    result = HttpResult()
    t0 = time.perf_counter()
    server.cli("demo")
    tokens = {name: server.cli("users", "token", name).strip() for name in USERNAMES}
    server.start()
    result.startup_seconds = time.perf_counter() - t0
    client = ApiClient(server.port)
    try:
        for index in range(warmup):
            _walk(client, tokens, -1 - index, None)
        before_requests = client.requests
        cpu_before = process_cpu_seconds(server.process.pid)
        for index in range(n):
            _walk(client, tokens, index, result)
        cpu_after = process_cpu_seconds(server.process.pid)
        result.measured_requests = client.requests - before_requests
        if cpu_before is not None and cpu_after is not None:
            result.server_cpu_seconds = cpu_after - cpu_before
    finally:
        client.close()
        server.stop()
    result.requests = client.requests
    result.connections = client.connections
    return result
