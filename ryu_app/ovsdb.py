"""A small OVSDB (RFC 7047) client: one JSON-RPC ``transact`` per call.

The controller reads interface types and options (patch peers, tunnel remote IPs)
and writes port tags.  Ryu's ``ryu.lib.ovs`` would resynchronise a whole IDL
replica for each such call; a direct transaction is one round trip.  Under Ryu,
eventlet has patched ``socket``, so a call only blocks its own green thread.
"""
from __future__ import annotations

import itertools
import json
import socket
from typing import Any


class OvsdbError(Exception):
    pass


def _address(connection: str) -> tuple[int, Any]:
    kind, _, rest = connection.partition(":")
    if kind == "unix":
        return socket.AF_UNIX, rest
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        return socket.AF_INET, (host, int(port))
    raise OvsdbError(f"unsupported OVSDB connection '{connection}' (use unix: or tcp:)")


def _ovs_map(value: Any) -> dict:
    """OVSDB's ["map", [[k, v], ...]] as a dict."""
    return dict(value[1]) if isinstance(value, list) and value[:1] == ["map"] else {}


def _ovs_scalar(value: Any) -> Any:
    """OVSDB's empty set ["set", []] as None, a one-element set as its element."""
    if isinstance(value, list) and value[:1] == ["set"]:
        return value[1][0] if value[1] else None
    return value


class Ovsdb:
    def __init__(self, connection: str, timeout: float = 5.0):
        self.family, self.address = _address(connection)
        self.timeout = timeout
        self._ids = itertools.count(1)

    def transact(self, *operations: dict) -> list:
        request_id = next(self._ids)
        request = {"method": "transact", "params": ["Open_vSwitch", *operations],
                   "id": request_id}
        with socket.socket(self.family, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(self.address)
            sock.sendall(json.dumps(request).encode())
            reply = self._read_reply(sock, request_id)
        if reply.get("error"):
            raise OvsdbError(str(reply["error"]))
        results = reply["result"]
        for result in results:
            if isinstance(result, dict) and "error" in result:
                raise OvsdbError(f"{result['error']}: {result.get('details', '')}")
        return results

    @staticmethod
    def _read_reply(sock: socket.socket, request_id: int) -> dict:
        decoder = json.JSONDecoder()
        buffer = ""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise OvsdbError("OVSDB server closed the connection")
            buffer += chunk.decode()
            try:
                message, _ = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                continue  # incomplete JSON: read on
            if message.get("id") == request_id:
                return message
            buffer = ""  # a notification or echo: not ours

    def interfaces(self, names: list[str]) -> dict[str, dict]:
        """{name: {'type', 'options', 'ofport', 'external_ids'}} for the named interfaces."""
        if not names:
            return {}
        where = [["name", "==", name] for name in names]
        operations = [{"op": "select", "table": "Interface", "where": [clause],
                       "columns": ["name", "type", "options", "ofport", "external_ids"]}
                      for clause in where]
        found = {}
        for result in self.transact(*operations):
            for row in result.get("rows", []):
                found[row["name"]] = {"type": row["type"], "options": _ovs_map(row["options"]),
                                      "ofport": _ovs_scalar(row["ofport"]),
                                      "external_ids": _ovs_map(row["external_ids"])}
        return found

    def set_port_tag(self, port: str, tag: int) -> bool:
        """Port.tag: the access VLAN of a VM port (False if no such port)."""
        return self._update("Port", port, {"tag": tag})

    def set_fail_mode(self, bridge: str, mode: str) -> bool:
        """Bridge.fail_mode: 'secure' forwards nothing the controller did not install."""
        return self._update("Bridge", bridge, {"fail_mode": mode})

    def _update(self, table: str, name: str, row: dict) -> bool:
        result = self.transact({"op": "update", "table": table,
                                "where": [["name", "==", name]], "row": row})
        return result[0].get("count", 0) > 0
