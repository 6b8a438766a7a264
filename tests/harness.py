"""Run the real controller (`ryu-manager ryu_app.app`) for tests and benchmarks."""
from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# a well-formed id that names nothing: the 404 of an unknown resource, not the 400 of a name
UNKNOWN_ID = "9d3c6a8e-0000-4000-8000-00000000dead"
RYU_MANAGER = str(Path(sys.executable).with_name("ryu-manager"))
OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    """A keep-alive HTTP client speaking JSON to the controller."""

    def __init__(self, port: int):
        self.port = port
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None,
                raw: bytes | None = None, headers: dict | None = None) -> tuple[int, Any]:
        payload = raw if raw is not None else (json.dumps(body).encode()
                                               if body is not None else None)
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request(method, path, body=payload,
                                   headers={"Content-Type": "application/json",
                                            **(headers or {})})
                response = self._conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        return response.status, (json.loads(data) if data else None)

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> tuple[int, Any]:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> tuple[int, Any]:
        return self.request("DELETE", path)

    def create(self, kind: str, **fields: Any) -> dict:
        """POST a resource; fail loudly unless the controller answers 201."""
        status, body = self.post(f"/v2.0/{kind.replace('_', '-')}s", {kind: fields})
        assert status == 201, (status, body)
        return body[kind]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Controller:
    """One ryu-manager process with its own config, database and ports."""

    def __init__(self, workdir: str | None = None, listen: str = "127.0.0.1",
                 extra: dict[str, dict[str, str]] | None = None,
                 descriptors: int | None = None):
        """``listen``: where the OpenFlow and OVSDB listeners bind (the REST API stays on
        loopback); ``extra``: more options, {section: {option: value}}; ``descriptors``:
        the process' file descriptor limit (soft and hard), as `ulimit -n` would set it."""
        self.descriptors = descriptors
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="neutron-ryu-"))
        self.api_port = free_port()
        self.of_port = free_port()
        self.ovsdb_port = free_port()
        self.db_path = self.workdir / "neutron.sqlite"
        self.log_path = self.workdir / "ryu.log"
        self.config = self.workdir / "neutron-ryu.conf"
        sections = {
            "DEFAULT": {"wsapi_port": self.api_port, "ofp_listen_host": listen,
                        "ofp_tcp_listen_port": self.of_port, "ofp_ssl_listen_port": self.of_port},
            "neutron": {"db_path": self.db_path, "ovsdb_listen_host": listen,
                        "ovsdb_listen_port": self.ovsdb_port, "datapath_type": "netdev"},
        }
        for section, options in (extra or {}).items():
            sections.setdefault(section, {}).update(options)
        self.config.write_text("".join(
            f"[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in options.items())
            for section, options in sections.items()))
        self.process: subprocess.Popen | None = None
        self.api = Api(self.api_port)

    def start(self) -> "Controller":
        log = open(self.log_path, "a")
        limit = self.descriptors
        self.process = subprocess.Popen(
            [RYU_MANAGER, "--config-file", str(self.config), "ryu_app.app"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
            if limit else None)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"controller exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.api_port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"controller did not listen: {self.log()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        self.api.close()
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def openstack(self, *args: str, parse: bool = True, fail: bool = False) -> Any:
        """Run the standard client against this controller, in no-auth mode: its JSON
        output (``parse``), or its output, or, for a command that must ``fail``, its
        error output."""
        command = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint",
                   f"http://127.0.0.1:{self.api_port}/", *args]
        if parse and not fail:
            command += ["-f", "json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if fail:
            assert done.returncode != 0, done.stdout
            return done.stderr
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if parse else done.stdout

    def wait_for(self, predicate, timeout: float = 10.0, interval: float = 0.05) -> Any:
        """Poll until predicate() is truthy; return its value or fail with the log tail."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"condition not met in {timeout}s; log tail:\n{self.log()[-3000:]}")
