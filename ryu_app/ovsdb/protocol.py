"""OVSDB as plain data: wire values, a replica kept by ``monitor``, operations (pure).

RFC 7047 encodes a set as ``["set", [...]]`` (a one-element set may be the bare atom),
a map as ``["map", [[key, value], ...]]`` and a row reference as ``["uuid", "..."]``.
Decoded here: sets are lists, maps dicts, references their UUID strings.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

DATABASE = "Open_vSwitch"
# What the controller reads of each hypervisor: its registration, its bridges, their ports
# and interfaces (type, options, ofport, external_ids), and the bridges' controllers.
MONITORED = {
    "Open_vSwitch": ["external_ids", "bridges"],
    "Bridge": ["name", "datapath_id", "datapath_type", "ports", "fail_mode", "protocols",
               "controller", "other_config", "external_ids"],
    "Port": ["name", "interfaces", "tag", "external_ids"],
    "Interface": ["name", "type", "options", "ofport", "external_ids"],
    "Controller": ["target", "connection_mode", "max_backoff"],
}

Row = dict[str, Any]
Operation = dict[str, Any]


def decode(value: Any) -> Any:
    """A wire value as Python: set -> list, map -> dict, ["uuid", u] -> u."""
    if isinstance(value, list) and len(value) == 2:
        kind, payload = value
        if kind == "set":
            return [decode(item) for item in payload]
        if kind == "map":
            return {decode(key): decode(item) for key, item in payload}
        if kind in ("uuid", "named-uuid"):
            return payload
    return value


def scalar(value: Any) -> Any:
    """An optional column (a set of at most one) as its value or None."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def members(value: Any) -> list:
    """A set column as a list, whether the wire sent a set or a bare atom."""
    return value if isinstance(value, list) else [value]


def ovs_map(mapping: dict[str, Any]) -> list:
    return ["map", [[key, value] for key, value in sorted(mapping.items())]]


def ovs_set(items: list) -> list:
    return ["set", list(items)]


def ref(uuid: str) -> list:
    return ["uuid", uuid]


def named(name: str) -> list:
    """A reference to a row inserted earlier in the same transaction (``uuid-name``)."""
    return ["named-uuid", name]


def monitor_request(request_id: int) -> dict:
    return {"method": "monitor", "id": request_id,
            "params": [DATABASE, None, {table: {"columns": columns}
                                        for table, columns in MONITORED.items()}]}


def transact_request(request_id: int, operations: list[Operation]) -> dict:
    return {"method": "transact", "id": request_id, "params": [DATABASE, *operations]}


def transaction_error(result: Any) -> str | None:
    """Why a transaction failed (its first operation error), or None if it committed."""
    if not isinstance(result, list):
        return f"unexpected reply {result!r}"
    for outcome in result:
        if isinstance(outcome, dict) and outcome.get("error"):
            return f"{outcome['error']}: {outcome.get('details', '')}".rstrip(": ")
    return None


class Replica:
    """The monitored tables of one database: {table: {uuid: row}}, rows decoded."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Row]] = {table: {} for table in MONITORED}

    def apply(self, updates: dict[str, dict[str, dict]]) -> None:
        """Apply a monitor reply or ``update`` notification (table-updates).  With plain
        ``monitor``, "new" carries every monitored column of an inserted or modified row."""
        for table, rows in updates.items():
            current = self.tables.setdefault(table, {})
            for uuid, change in rows.items():
                if "new" in change:
                    current[uuid] = {column: decode(value)
                                     for column, value in change["new"].items()}
                else:
                    current.pop(uuid, None)

    def rows(self, table: str) -> Iterator[tuple[str, Row]]:
        return iter(self.tables.get(table, {}).items())

    def root(self) -> tuple[str, Row] | None:
        """The single Open_vSwitch row, if the database has been initialised."""
        return next(self.rows("Open_vSwitch"), None)

    def get(self, table: str, uuid: str) -> Row | None:
        return self.tables.get(table, {}).get(uuid)


class MessageStream:
    """Splits a byte stream into JSON-RPC messages.  OVSDB sends objects back to back with
    no delimiter.  A message ends with a closing brace, so the buffer is decoded (as many
    messages as it holds) only when what arrived ends with one; a brace that closed
    something inside a message leaves the buffer for the next chunk."""

    def __init__(self) -> None:
        self._buffer = b""
        self._decoder = json.JSONDecoder()

    def feed(self, data: bytes) -> list[dict]:
        self._buffer += data
        if not self._buffer.rstrip().endswith(b"}"):
            return []
        text = self._buffer.decode()
        messages, index = [], 0
        while True:
            while index < len(text) and text[index] in " \t\r\n":
                index += 1
            if index == len(text):
                break
            try:
                message, index = self._decoder.raw_decode(text, index)
            except ValueError:
                if text.rstrip().endswith("}") and self._complete(text, index):
                    raise
                break   # the rest is a message not yet complete
            messages.append(message)
        self._buffer = text[index:].encode()
        return messages

    @staticmethod
    def _complete(text: str, start: int) -> bool:
        """Whether text[start:] closes every brace and bracket it opens, outside strings:
        if it does and still does not decode, it is not JSON."""
        depth, in_string, escaped = 0, False, False
        for char in text[start:]:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
        return depth <= 0
