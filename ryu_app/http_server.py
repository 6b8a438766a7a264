"""The REST API's HTTP server: eventlet's WSGI server, set up to outlast hostile clients.

Ryu serves its WSGI application with eventlet's defaults: tracebacks in response bodies
(``debug=True``), no socket timeout (a client that never finishes its request holds a
connection for ever), ``SO_REUSEPORT`` (a second controller on the same port shares the
traffic silently) and an accept loop that ends for good on EMFILE.  ``install`` replaces
Ryu's server with this one before ``ryu-manager`` starts it:

- the listening socket is bound without ``SO_REUSEPORT``;
- a connection idle for ``idle_timeout`` seconds is closed, and so is one whose request
  line, or then whose headers, take longer than that to arrive, or whose body arrives
  slower than ``MIN_BODY_RATE`` past that (the socket timeout bounds each read only: a
  client sending a byte a second held its connection, and enough of them every
  connection, for ever);
- connections are served until ``RESERVED_DESCRIPTORS`` short of the file descriptor limit
  (raised to its hard limit at start), so that OpenFlow, OVSDB and the database always
  have descriptors left; beyond that, clients wait in a listen backlog deep enough not to
  drop them, and are taken as idle ones time out: idle or half-open connections keep a
  new client out for about ``idle_timeout`` at most;
- accept() that fails for lack of descriptors or memory waits and tries again;
- responses are not held back by Nagle's algorithm (``TCP_NODELAY``);
- a path or query string that is not UTF-8 is answered with a NeutronError 400 before it
  reaches the API;
- what the API left unread of a request body (one over the size limit, answered 413) is
  read and dropped, up to ``DRAIN_BYTES``, before the answer goes: a socket closed with
  unread data resets the connection, and the client could lose the answer;
- requests go straight to the API's own WSGI application, not through Ryu's router
  (which matched every path against its route table, for the one catch-all route);
- no access log line per request (a tenth of a request's cost); the API logs what it
  refuses and what fails.
"""
from __future__ import annotations

import errno
import logging
import resource
import socket
import time
from typing import Any, Callable
from urllib.parse import unquote_to_bytes

import eventlet
import eventlet.wsgi
from ryu.lib import hub

from ryu_app.model.errors import BadRequest

LOG = logging.getLogger(__name__)
RESERVED_DESCRIPTORS = 256
BACKLOG = 4096             # the kernel caps it at net.core.somaxconn
OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
DRAIN_BYTES = 16 << 20     # of a body the API did not read; beyond, the client is reset
MIN_BODY_RATE = 64 << 10   # bytes/s a body may take beyond the timeout (1 MiB: 16 s more)
BODY_ALLOWANCE = 1 << 20   # the API's largest body, what a body is given time for at most
SWEEP_INTERVAL = 0.25      # how often the connections past their deadline are cut

WsgiApp = Callable[[dict, Callable], Any]


def utf8_or_400(application: WsgiApp) -> WsgiApp:
    """Refuse paths and query strings that are not UTF-8 once percent-decoded."""
    def guarded(environ: dict, start_response: Callable) -> Any:
        try:
            environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            unquote_to_bytes(environ.get("QUERY_STRING", "")).decode("utf-8")
        except UnicodeError:
            error = BadRequest("The request's path or query string is not valid UTF-8.")
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [error.body()]
        return application(environ, start_response)
    return guarded


def drain_body(application: WsgiApp) -> WsgiApp:
    """Read and drop what the application left of the request body (see the module)."""
    def drained(environ: dict, start_response: Callable) -> Any:
        answer = application(environ, start_response)
        has_body = environ.get("CONTENT_LENGTH", "0") not in ("", "0") or "chunked" in \
            environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        body, left = environ.get("wsgi.input") if has_body else None, DRAIN_BYTES
        while body is not None and left > 0:
            try:
                chunk = body.read(min(65536, left))
            except (ValueError, OSError):   # a broken chunk, a timeout: the answer goes,
                break                       # and eventlet closes the connection after it
            if not chunk:
                break
            left -= len(chunk)
        return answer
    return drained


class Watch:
    """The connections reading a request, each with its deadline; ``sweep`` cuts those
    past it.  One sweeper for all, rather than a timer per request phase (three timers
    a request cost the REST API 5% of its creates per second)."""

    def __init__(self) -> None:
        self.reading: dict[Any, float] = {}

    def start(self, connection: Any, deadline: float) -> None:
        self.reading[connection] = deadline

    def stop(self, connection: Any) -> None:
        self.reading.pop(connection, None)

    def sweep(self, now: float) -> None:
        """Shut the sockets of the connections past their deadline: their blocked read
        ends, and eventlet (or the API, for a body) closes the connection."""
        for connection, deadline in list(self.reading.items()):
            if now > deadline:
                del self.reading[connection]
                try:
                    connection.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass   # gone already

    def sweep_forever(self) -> None:
        while True:
            hub.sleep(SWEEP_INTERVAL)
            self.sweep(time.monotonic())


class DeadlineInput:
    """A request body that must arrive by a deadline: the watch cuts a read past it,
    which the API answers as a body that broke off."""

    def __init__(self, body: Any, watch: Watch, connection: Any, deadline: float):
        self._body, self._watch = body, watch
        self._connection, self._deadline = connection, deadline

    def _within(self, read: Callable, *args: Any) -> Any:
        self._watch.start(self._connection, self._deadline)
        try:
            return read(*args)
        finally:
            self._watch.stop(self._connection)

    def read(self, *args: Any) -> bytes:
        return self._within(self._body.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._within(self._body.readline, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)


class DeadlineProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's HTTP protocol with a deadline per phase (see the module), kept by the
    server's ``watch``; ``seconds`` and ``watch`` are set by ``install``."""

    seconds = 5.0
    watch = Watch()

    def _read_request_line(self) -> Any:
        self.watch.start(self, time.monotonic() + self.seconds)   # idle, then the line
        line = super()._read_request_line()
        self._deadline = time.monotonic() + self.seconds
        self.watch.start(self, self._deadline)                     # then the headers
        return line

    def parse_request(self) -> bool:
        try:
            return super().parse_request()
        finally:
            self.watch.stop(self)

    def get_environ(self) -> dict:
        environ = super().get_environ()
        length = environ.get("CONTENT_LENGTH", "")
        # no more time than the largest body the API takes needs: a bigger one is
        # refused, and what follows it only drained
        size = min(int(length), BODY_ALLOWANCE) if length.isdigit() else BODY_ALLOWANCE
        environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], self.watch, self,
                                              self._deadline + size / MIN_BODY_RATE)
        return environ

    def finish(self) -> None:
        self.watch.stop(self)
        super().finish()


class PatientListener:
    """A listening socket whose accept() waits out a lack of descriptors or memory
    instead of raising, which would end eventlet's accept loop and close the socket."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def accept(self):
        while True:
            try:
                client, address = self._sock.accept()
                # A response goes out in several writes; with Nagle's algorithm the last
                # one waits for the client's delayed ACK (~40 ms on keep-alive connections).
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return client, address
            except OSError as error:
                if error.errno not in OUT_OF_RESOURCES:
                    raise
                LOG.warning("REST API: cannot accept a connection now (%s); retrying",
                            error.strerror)
                hub.sleep(0.1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def raise_descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE raised to the hard one; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def install(idle_timeout: float, application: WsgiApp) -> None:
    """Make ryu-manager serve ``application`` with this server (``ryu.app.wsgi.start_service``
    looks its server class up when it starts it, after the apps are loaded, and hands it
    Ryu's own WSGI application, which is not used)."""
    from ryu import cfg
    from ryu.app import wsgi as ryu_wsgi

    watch = Watch()
    protocol = type("Protocol", (DeadlineProtocol,), {"seconds": idle_timeout, "watch": watch})

    class WSGIServer:
        def __init__(self, _ryu_application: WsgiApp, **_config):
            self.server = eventlet.listen((cfg.CONF.wsapi_host, cfg.CONF.wsapi_port),
                                          backlog=BACKLOG, reuse_port=False)

        def __call__(self) -> None:
            hub.spawn(watch.sweep_forever)
            connections = max(16, raise_descriptor_limit() - RESERVED_DESCRIPTORS)
            eventlet.wsgi.server(PatientListener(self.server),
                                 utf8_or_400(drain_body(application)),
                                 hub.LoggingWrapper(), debug=False, max_size=connections,
                                 socket_timeout=idle_timeout, log_output=False,
                                 protocol=protocol)

    ryu_wsgi.WSGIServer = WSGIServer
