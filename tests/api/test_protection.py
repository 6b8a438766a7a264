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
