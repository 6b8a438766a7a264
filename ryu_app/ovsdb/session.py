"""The OVSDB listener and the long-lived session each hypervisor opens to it (eventlet).

A hypervisor joins with ``ovs-vsctl set-manager tcp:CONTROLLER:6640``: its ovsdb-server
dials in and stays connected, reconnecting by itself after a restart or a cut.  On each
connection the controller is the OVSDB client: it sends one ``monitor`` for the tables
it needs, keeps the replica current from the ``update`` notifications, answers the
server's ``echo`` probes, probes an idle server itself, and sends ``transact`` requests
whose replies come back, tagged, through the handler.
"""
from __future__ import annotations

import itertools
import json
import logging
import socket
import ssl
import time
from typing import Any, Protocol

import eventlet
from ryu.lib import hub

from ryu_app import tls
from ryu_app.ovsdb.protocol import (SESSION_CLOSED, MessageStream, Operation, Replica,
                                    monitor_request, transact_request, transaction_error)

LOG = logging.getLogger(__name__)
RECEIVE_BYTES = 65536


class SessionHandler(Protocol):
    """What a session tells its owner.  Calls come from the session's own green thread."""

    def ovsdb_ready(self, session: "Session") -> None:
        """The monitor's first answer (the whole database) is in ``session.replica``."""

    def ovsdb_changed(self, session: "Session") -> None:
        """An update notification moved ``session.replica``."""

    def ovsdb_replied(self, session: "Session", tag: Any, error: str | None) -> None:
        """A transaction sent with ``tag`` committed (error None) or failed."""

    def ovsdb_closed(self, session: "Session") -> None:
        """The session is over; a hypervisor that comes back opens a new one."""


class Session:
    def __init__(self, sock: socket.socket, handler: SessionHandler, probe_interval: float):
        self.sock = sock
        self.handler = handler
        self.probe_interval = probe_interval
        self.peer = sock.getpeername()[0]
        self.local_address = sock.getsockname()[0]   # where this hypervisor reached us
        self.replica = Replica()
        self.ready = False
        self.closed = False
        self._ids = itertools.count(1)
        self._monitor_id = next(self._ids)
        self._pending: dict[int, Any] = {}           # transact id -> the caller's tag
        self._send_lock = hub.Semaphore()
        self._last_heard = time.monotonic()

    def __repr__(self) -> str:
        return f"<ovsdb session {self.peer}>"

    # ------------------------------------------------------------- outgoing

    def transact(self, operations: list[Operation], tag: Any) -> None:
        """Send one transaction; ``handler.ovsdb_replied(self, tag, error)`` follows, from
        another green thread (never from the caller's: it may be the handler's own loop)."""
        request_id = next(self._ids)
        self._pending[request_id] = tag
        if not self._send(transact_request(request_id, operations)):
            self._pending.pop(request_id, None)
            hub.spawn(self.handler.ovsdb_replied, self, tag, SESSION_CLOSED)

    def _send(self, message: dict) -> bool:
        if self.closed:
            return False
        data = json.dumps(message).encode()
        try:
            with self._send_lock:
                self.sock.sendall(data)
            return True
        except OSError as error:
            LOG.info("%r: send failed (%s)", self, error)
            self.close()
            return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    # ------------------------------------------------------------- incoming

    def run(self) -> None:
        """Monitor, then read until the connection ends (blocks this green thread).  Reads
        time out every half probe interval: that is when an idle server is probed, and
        when a session closed by another green thread notices (eventlet does not wake a
        blocked read when its socket is closed elsewhere)."""
        self.sock.settimeout(self.probe_interval / 2)
        stream = MessageStream()
        try:
            if self._send(monitor_request(self._monitor_id)):
                while not self.closed:
                    try:
                        data = self.sock.recv(RECEIVE_BYTES)
                    except TimeoutError:
                        self._probe()
                        continue
                    if not data:
                        break
                    self._last_heard = time.monotonic()
                    for message in stream.feed(data):
                        self._dispatch(message)
        except (OSError, ValueError) as error:   # reset, TLS failure, malformed JSON
            LOG.info("%r: connection ended (%s)", self, error)
        finally:
            self.close()
            for tag in self._pending.values():
                self.handler.ovsdb_replied(self, tag, SESSION_CLOSED)
            self._pending.clear()
            self.handler.ovsdb_closed(self)

    def _dispatch(self, message: dict) -> None:
        method = message.get("method")
        if method == "echo":
            self._send({"id": message.get("id"), "result": message.get("params", []),
                        "error": None})
        elif method == "update2":
            self.replica.apply(message["params"][1])
            if self.ready:
                self.handler.ovsdb_changed(self)
        elif message.get("id") == self._monitor_id:
            if message.get("error"):
                LOG.error("%r: monitor refused: %s", self, message["error"])
                self.close()
                return
            self.replica.apply(message["result"])
            self.ready = True
            self.handler.ovsdb_ready(self)
        elif message.get("id") in self._pending:
            tag = self._pending.pop(message["id"])
            error = message.get("error")
            self.handler.ovsdb_replied(self, tag, str(error) if error
                                       else transaction_error(message.get("result")))

    def _probe(self) -> None:
        """An idle server gets an echo after one interval; silence for two ends the
        session, so a hypervisor cut off from the network is noticed (its ovsdb-server
        probes us the same way and reconnects when it can)."""
        idle = time.monotonic() - self._last_heard
        if idle >= 2 * self.probe_interval:
            LOG.warning("%r: silent for %.1f s; closing", self, idle)
            self.close()
        elif idle >= self.probe_interval:
            self._send({"method": "echo", "params": [], "id": "probe"})


class Listener:
    """Accepts hypervisors' OVSDB connections (TCP, or TLS with client certificates)."""

    def __init__(self, host: str, port: int, handler: SessionHandler, probe_interval: float,
                 tls: ssl.SSLContext | None = None):
        self.handler = handler
        self.probe_interval = probe_interval
        self.tls = tls
        # No SO_REUSEPORT: a second controller on the same port must fail to start.
        self.server = eventlet.listen((host, port), reuse_port=False)

    @property
    def port(self) -> int:
        return self.server.getsockname()[1]

    def serve_forever(self) -> None:
        while True:
            sock, _ = self.server.accept()
            hub.spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        if self.tls is not None:
            sock = tls.accept(self.tls, sock, "OVSDB")
            if sock is None:
                return
        try:
            session = Session(sock, self.handler, self.probe_interval)
        except OSError:   # gone before we looked at it
            sock.close()
            return
        session.run()
