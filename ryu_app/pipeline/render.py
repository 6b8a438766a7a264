"""Flows and packets as people read them: close to ``ovs-ofctl dump-flows`` (pure)."""
from __future__ import annotations

import re
from typing import Any, Mapping

from ryu_app.pipeline.flow import OFPVID_PRESENT, Action, Flow

PortNames = Mapping[int, str]
NO_NAMES: PortNames = {}
_HEX = re.compile(r"(reg\d+|eth_type|tunnel_id|ct_mark)$")   # ovs-ofctl shows them in hex


def value(field: str, raw: Any) -> str:
    """A match or packet field's value: VLANs as numbers, masks after a slash, conntrack
    states as ovs-ofctl's flags, and registers, ct_mark, eth_type and tunnel_id in hex
    as ovs-ofctl writes them (reg5=0x2, ct_mark=0x1/0x1); conj_id stays decimal."""
    if field == "ct_state":
        return _ct_flags(*raw) if isinstance(raw, tuple) else _ct_flags(raw, raw)
    if field == "vlan_vid" and raw == (OFPVID_PRESENT, OFPVID_PRESENT):
        return "tagged"
    if isinstance(raw, tuple):
        return "/".join(value(field, part) if _HEX.match(field) else str(part)
                        for part in raw)
    if field == "vlan_vid":
        return str(raw & ~OFPVID_PRESENT) if raw & OFPVID_PRESENT else "untagged"
    if _HEX.match(field) and isinstance(raw, int):
        return hex(raw)
    return str(raw)


CT_FLAGS = ("new", "est", "rel", "rpl", "inv", "trk")   # bit 0 upwards


def _ct_flags(bits: int, mask: int) -> str:
    return "".join(("+" if bits & 1 << n else "-") + name
                   for n, name in enumerate(CT_FLAGS) if mask & 1 << n)


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
    if kind == "ct":
        return _ct_text(*args)
    if kind == "ct_mark":   # ct(commit) setting the connection's mark
        zone, mark = args
        return f"ct(commit,zone={zone},exec(set_field:{mark:#x}->ct_mark))"
    if kind == "resubmit":
        return f"resubmit(,{args[0]})"
    if kind == "conjunction":   # clause k of n, 1-based as ovs-ofctl prints it
        conj_id, clause, n_clauses = args
        return f"conjunction({conj_id},{clause}/{n_clauses})"
    return kind


def _ct_text(commit: bool, zone: int, table: int | None, nat: tuple | None) -> str:
    """As ovs-ofctl writes it: ct(commit,zone=4096,nat(src=203.0.113.10,random))."""
    parts = ["commit"] if commit else []
    parts += [f"table={table}"] if table is not None else []
    parts.append(f"zone={zone}")
    if nat is not None:
        kind, address, random = nat
        inner = f"{kind}={address}" + (",random" if random else "") if kind else ""
        parts.append(f"nat({inner})" if inner else "nat")
    return f"ct({','.join(parts)})"


def actions_text(actions: tuple, ports: PortNames = NO_NAMES) -> str:
    return ",".join(action_text(action, ports) for action in actions) or "drop"


def flow_text(flow: Flow, ports: PortNames = NO_NAMES, with_table: bool = True) -> str:
    """One line as ``ovs-ofctl dump-flows`` would show it, ports by name."""
    table = f"table={flow.table}, " if with_table else ""
    return (f"{table}priority={flow.priority}, {match_text(flow.match, ports)} "
            f"actions={actions_text(flow.actions, ports)}")
