"""TLS for the control channels: one server context, and a handshake per connection.

Ryu 4.34's own TLS listener pops the key, certificate and CA out of a dict it shares
between connections, so only its first switch gets TLS at all; ``openflow_listener``
replaces it with one that builds the context once.  A switch without a certificate
signed by the CA is refused during the handshake and logged, without a traceback.
"""
from __future__ import annotations

import logging
import socket
import ssl
from typing import Callable

from ryu_app.settings import TlsFiles

LOG = logging.getLogger(__name__)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """TLS 1.2 or later; the client (a switch) must present a certificate the CA signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.certificate, files.private_key)
    context.load_verify_locations(files.ca_certificates)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def accept(context: ssl.SSLContext, sock: socket.socket, what: str) -> ssl.SSLSocket | None:
    """The connection after a completed handshake, or None (refused, logged, closed)."""
    try:
        peer = sock.getpeername()[0]
    except OSError:
        peer = "?"
    try:
        secure = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        secure.do_handshake()
        return secure
    except (OSError, ssl.SSLError) as error:
        LOG.warning("%s connection from %s refused: %s", what, peer, error)
        sock.close()
        return None


def openflow_listener() -> None:
    """Make Ryu's OpenFlow listener handshake each switch with one shared context."""
    from ryu.controller import controller
    from ryu.lib import hub

    class StreamServer(hub.StreamServer):
        def __init__(self, listen_info, handle: Callable | None = None, **ssl_args):
            super().__init__(listen_info, handle)
            if ssl_args:
                context = server_context(TlsFiles(ssl_args["keyfile"], ssl_args["certfile"],
                                                  ssl_args["ca_certs"]))

                def handshake_then_handle(sock, address):
                    secure = accept(context, sock, "OpenFlow")
                    if secure is not None:
                        handle(secure, address)
                self.handle = handshake_then_handle

    controller.StreamServer = StreamServer
