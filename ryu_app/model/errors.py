"""Neutron's error vocabulary: every client mistake becomes a NeutronError body."""
from __future__ import annotations

import json


class NeutronError(Exception):
    """An API error carrying the HTTP status and Neutron's exception type name."""

    status = 500
    type_name = "NeutronError"

    def __init__(self, message: str, type_name: str | None = None):
        super().__init__(message)
        self.message = message
        if type_name:
            self.type_name = type_name

    def body(self) -> bytes:
        return json.dumps({"NeutronError": {
            "type": self.type_name, "message": self.message, "detail": ""}}).encode()


class BadRequest(NeutronError):
    status = 400
    type_name = "HTTPBadRequest"


class InvalidInput(BadRequest):
    type_name = "InvalidInput"


class NotFound(NeutronError):
    status = 404
    type_name = "HTTPNotFound"


class MethodNotAllowed(NeutronError):
    status = 405
    type_name = "HTTPMethodNotAllowed"


class RequestEntityTooLarge(NeutronError):
    status = 413
    type_name = "HTTPRequestEntityTooLarge"


class Conflict(NeutronError):
    status = 409
    type_name = "Conflict"


class ServiceUnavailable(NeutronError):
    """A pool (segments, addresses) is exhausted: not the client's fault, retry later."""

    status = 503
    type_name = "ServiceUnavailable"


def not_found(kind: str, resource_id: str) -> NotFound:
    """The 404 Neutron gives for an unknown id, e.g. NetworkNotFound."""
    label = {"network": "Network", "subnet": "Subnet", "port": "Port",
             "router": "Router", "agent": "Agent", "floatingip": "Floating IP"}[kind]
    return NotFound(f"{label} {resource_id} could not be found.",
                    label.replace(" ", "") + "NotFound")
