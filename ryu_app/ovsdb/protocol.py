"""OVSDB as plain data: wire values, a replica kept by ``monitor_cond``, operations (pure).

RFC 7047 encodes a set as ``["set", [...]]`` (a one-element set may be the bare atom),
a map as ``["map", [[key, value], ...]]`` and a row reference as ``["uuid", "..."]``.
Decoded here: sets (optional columns included) are lists, maps dicts, references their
UUID strings.  The replica follows ``update2`` notifications (ovsdb-server(7)): a
modified row arrives as the difference only -- for a set, the elements that came or
went; for a map, the pairs that came, went or changed; for an optional value (a set of
at most one), the new value -- so a bridge's hundredth port costs one UUID on the wire,
not a hundred.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

DATABASE = "Open_vSwitch"
SESSION_CLOSED = "session closed"   # the error of a transaction its session never sent
SCALAR, OPTIONAL, SET, MAP = "scalar", "optional", "set", "map"
# What the controller reads of each hypervisor -- its registration, its bridges, their
# ports and interfaces (type, options, ofport, external_ids), the bridges' controllers --
# and each column's kind in the vswitch schema (optional: a set of at most one value).
MONITORED = {
    "Open_vSwitch": {"external_ids": MAP, "bridges": SET},
    "Bridge": {"name": SCALAR, "datapath_id": OPTIONAL, "datapath_type": SCALAR,
               "ports": SET, "fail_mode": OPTIONAL, "protocols": SET, "controller": SET,
               "other_config": MAP, "external_ids": MAP},
    "Port": {"name": SCALAR, "interfaces": SET, "tag": OPTIONAL, "external_ids": MAP},
    "Interface": {"name": SCALAR, "type": SCALAR, "options": MAP, "ofport": OPTIONAL,
                  "external_ids": MAP},
    "Controller": {"target": SCALAR, "connection_mode": OPTIONAL, "max_backoff": OPTIONAL},
}

Row = dict[str, Any]
Operation = dict[str, Any]


def _atom(value: Any) -> Any:
    return value[1] if isinstance(value, list) else value


def decode(value: Any) -> Any:
    """A wire value as Python: set -> list, map -> dict, ["uuid", u] -> u."""
    if isinstance(value, list) and len(value) == 2:
        kind, payload = value
        if kind == "set":
            return [_atom(item) for item in payload]
        if kind == "map":
            return {_atom(key): _atom(item) for key, item in payload}
        if kind in ("uuid", "named-uuid"):
            return payload
    return value


def decode_column(kind: str, value: Any) -> Any:
    """A column's wire value as Python, a set column always as a list."""
    decoded = decode(value)
    if kind in (SET, OPTIONAL) and not isinstance(decoded, list):
        return [decoded]
    return decoded


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
    """``monitor_cond`` of every monitored table's columns, with no condition."""
    return {"method": "monitor_cond", "id": request_id,
            "params": [DATABASE, None, {table: [{"columns": list(columns)}]
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
        # Moves when the database's own settings move: its root row, its controllers, its
        # bridges (but for which ports they have: plugging a VM does not move it).
        self.settings_version = 0
        self.touched: set[tuple[str, str]] = set()   # (table, uuid) changed since taken

    def apply(self, updates: dict[str, dict[str, dict]]) -> None:
        """Apply a ``monitor_cond`` reply or an ``update2`` notification."""
        for table, rows in updates.items():
            if table in ("Open_vSwitch", "Controller") or (table == "Bridge" and any(
                    set(change.get("modify", {"*": None})) - {"ports"}
                    for change in rows.values())):
                self.settings_version += 1
            current = self.tables.setdefault(table, {})
            kinds = MONITORED.get(table, {})
            self.touched.update((table, uuid) for uuid in rows)
            for uuid, change in rows.items():
                if "modify" in change and uuid in current:
                    current[uuid] = self._modified(current[uuid], change["modify"], kinds)
                elif "initial" in change or "insert" in change:
                    row = change.get("initial") or change.get("insert") or {}
                    current[uuid] = {column: decode_column(kinds.get(column, SCALAR), value)
                                     for column, value in row.items()}
                    for column, kind in kinds.items():   # defaults are not sent
                        current[uuid].setdefault(column, {} if kind == MAP else
                                                 "" if kind == SCALAR else [])
                else:
                    current.pop(uuid, None)

    @staticmethod
    def _modified(row: Row, diff: dict, kinds: dict[str, str]) -> Row:
        row = dict(row)
        for column, value in diff.items():
            kind = kinds.get(column, SCALAR)
            if kind == SET:
                toggled = decode_column(SET, value)
                present = row.get(column, [])
                row[column] = [item for item in present if item not in toggled] + [
                    item for item in toggled if item not in present]
            elif kind == MAP:
                merged = dict(row.get(column, {}))
                for key, item in decode(value).items():
                    if merged.get(key, object()) == item:
                        del merged[key]   # the pair was there: it went
                    else:
                        merged[key] = item
                row[column] = merged
            else:   # a scalar, or an optional value: the new value
                row[column] = decode_column(kind, value)
        return row

    def take_touched(self) -> set[tuple[str, str]]:
        """The (table, uuid) of every row inserted, changed or deleted since the last call."""
        touched, self.touched = self.touched, set()
        return touched

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
