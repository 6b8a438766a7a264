"""Flows and packets as people read them: close to ``ovs-ofctl dump-flows`` (pure)."""
from __future__ import annotations

from typing import Any, Mapping

from ryu_app.pipeline.flow import OFPVID_PRESENT, Action, Flow

PortNames = Mapping[int, str]
NO_NAMES: PortNames = {}


def value(field: str, raw: Any) -> str:
    """A match or packet field's value: VLANs as numbers, masks after a slash."""
    if isinstance(raw, tuple):
        return f"{raw[0]}/{raw[1]}"
    if field == "vlan_vid":
        return str(raw & ~OFPVID_PRESENT) if raw & OFPVID_PRESENT else "untagged"
    if field in ("eth_type", "tunnel_id") and isinstance(raw, int):
        return hex(raw)
    return str(raw)


def match_text(match: tuple, ports: PortNames = NO_NAMES) -> str:
    fields = []
    for field, raw in match:
        shown = ports.get(raw, str(raw)) if field == "in_port" else value(field, raw)
        fields.append(f"{field}={shown}")
    return ",".join(fields) or "any"


def action_text(action: Action, ports: PortNames = NO_NAMES) -> str:
    kind, args = action[0], action[1:]
    if kind == "output":
        target = args[0]
        return "output:" + (target.upper() if isinstance(target, str)
                            else ports.get(target, str(target)))
    if kind == "goto":
        return f"goto_table:{args[0]}"
    if kind == "set_field":
        return f"set_field:{value(args[0], args[1])}->{args[0]}"
    if kind == "move":
        return f"move:{args[0]}->{args[1]}"
    if kind == "push_vlan":
        return f"push_vlan:{args[0]:#06x}"
    if kind == "learn":
        table, priority, timeout = args[:3]
        return f"learn(table={table},priority={priority},hard_timeout={timeout})"
    return kind


def actions_text(actions: tuple, ports: PortNames = NO_NAMES) -> str:
    return ",".join(action_text(action, ports) for action in actions) or "drop"


def flow_text(flow: Flow, ports: PortNames = NO_NAMES, with_table: bool = True) -> str:
    """One line as ``ovs-ofctl dump-flows`` would show it, ports by name."""
    table = f"table={flow.table}, " if with_table else ""
    return (f"{table}priority={flow.priority}, {match_text(flow.match, ports)} "
            f"actions={actions_text(flow.actions, ports)}")
