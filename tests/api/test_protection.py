"""How the controller protects itself: one controller per database, and idle or half-open
connections cannot keep clients out (the real ryu-manager, real sockets)."""
import selectors
import shutil
import socket
import time

import pytest

from tests.harness import Api, Controller


def test_a_second_controller_on_the_same_database_refuses_to_start(controller, api):
    second = Controller(extra={"neutron": {"db_path": controller.db_path}})
    try:
        with pytest.raises(RuntimeError, match="controller exited"):
            second.start()
        assert second.process.returncode != 0
        assert f"{controller.db_path} is in use by another controller" in second.log()
        assert "Traceback" not in second.log()
    finally:
        shutil.rmtree(second.workdir, ignore_errors=True)
    assert api.get("/v2.0/networks")[0] == 200


@pytest.fixture
def starved():
    """A controller allowed 1024 descriptors (`ulimit -n 1024`), closing idle REST
    connections after 2 s."""
    ctl = Controller(extra={"neutron": {"api_client_timeout": 2}}, descriptors=1024).start()
    yield ctl
    ctl.kill()
    shutil.rmtree(ctl.workdir, ignore_errors=True)


def half_open(port: int, count: int) -> list[socket.socket]:
    """Connections that start a request and never finish it, once all are established
    (or given up after 10 s)."""
    held = []
    with selectors.DefaultSelector() as waiting:
        for _ in range(count):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            waiting.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + 10
        while waiting.get_map() and time.monotonic() < deadline:
            for key, _ in waiting.select(timeout=0.5):
                sock = key.fileobj
                waiting.unregister(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    sock.send(b"GET /v2.0/networks HTTP/1.1\r\nHost: x\r\n")
                    held.append(sock)
                else:
                    sock.close()
        for key in list(waiting.get_map().values()):
            key.fileobj.close()
    return held


def test_idle_half_open_connections_keep_a_new_client_out_for_a_few_seconds_only(starved):
    held = half_open(starved.api_port, 1100)
    assert len(held) == 1100
    time.sleep(3)   # the server takes all it can: more than its descriptors allow
    try:
        started = time.monotonic()
        newcomer = Api(starved.api_port)
        assert newcomer.get("/v2.0/networks") == (200, {"networks": []})
        waited = time.monotonic() - started
        assert waited < 6, f"a new client waited {waited:.1f} s"
    finally:
        for sock in held:
            sock.close()
    for _ in range(20):
        assert Api(starved.api_port).get("/v2.0/networks")[0] == 200
    assert starved.process.poll() is None and "Traceback" not in starved.log()


def trickle(port: int, request: bytes, pause: float = 0.25) -> tuple[float, bytes]:
    """Send a request a byte at a time; (seconds until the server answered or closed the
    connection, what it said)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with selectors.DefaultSelector() as waiting:
            waiting.register(sock, selectors.EVENT_READ)
            for byte in request:
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    break
                if waiting.select(timeout=pause):
                    break
            try:
                said = sock.recv(4096)
            except OSError:
                said = b""
    return time.monotonic() - started, said


@pytest.mark.parametrize("phase, request_bytes", [
    ("request line", b"GET /v2.0/networks?" + b"x" * 200 + b" HTTP/1.1\r\n\r\n"),
    ("headers", b"GET /v2.0/networks HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"),
    ("body", b"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n"
     + b"{" * 200),
])
def test_a_client_trickling_its_request_is_cut_off_after_the_timeout(starved, phase,
                                                                      request_bytes):
    """The socket timeout bounds each read only: a byte every quarter second kept a
    connection (and enough such clients every connection) for ever.  Each phase must
    now arrive within api_client_timeout (2 s); the whole request would take a minute,
    and nothing is made of it."""
    waited, said = trickle(starved.api_port, request_bytes)
    assert waited < 5, f"{phase}: still connected after {waited:.1f} s"
    # the body's 400 may be lost: the client goes on sending, so closing resets
    assert not said or (said.startswith(b"HTTP/1.1 400") and b"Malformed request body" in said)
    assert starved.api.get("/v2.0/networks") == (200, {"networks": []})
    assert "Traceback" not in starved.log()


def test_a_large_body_arriving_steadily_but_slowly_is_taken(starved):
    """250 KB at 100 KB/s takes 2.5 s, past api_client_timeout (2 s): a body is given
    time in proportion to its size (64 KiB/s), so a slow link is no malformed request."""
    body = b'{"network": {"name": "slow"}}' + b" " * 250_000
    with socket.create_connection(("127.0.0.1", starved.api_port), timeout=20) as sock:
        sock.sendall(b"POST /v2.0/networks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode())
        for start in range(0, len(body), 10_000):
            sock.sendall(body[start:start + 10_000])
            time.sleep(0.1)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert [n["name"] for n in starved.api.get("/v2.0/networks")[1]["networks"]] == ["slow"]
