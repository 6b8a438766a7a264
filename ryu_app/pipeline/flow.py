"""Flows as plain, hashable data: what a bridge should hold, independent of Ryu."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

Action = tuple  # ("output", 3), ("goto", 20), ("set_field", "tunnel_id", 1001), ...
OFPVID_PRESENT = 0x1000
OFPVID_NONE = 0x0000      # vlan_vid of an untagged frame
ETH_TYPE_ARP = 0x0806
ETH_TYPE_8021Q = 0x8100


def match(**fields: Any) -> tuple[tuple[str, Any], ...]:
    """A match as sorted (OXM field, value) pairs, e.g. match(in_port=1, eth_type=0x0806)."""
    return tuple(sorted(fields.items()))


def vlan(vid: int) -> int:
    """OpenFlow 1.3's vlan_vid for a tagged frame (the VLAN-present bit set)."""
    return vid | OFPVID_PRESENT


@dataclass(frozen=True)
class Flow:
    table: int
    priority: int
    match: tuple[tuple[str, Any], ...] = ()
    actions: tuple[Action, ...] = ()  # empty: drop
    # Provenance: the builder function that made it ("br_tun.flood_flow"); not part of
    # what the switch holds, so two flows that differ only here are the same flow.
    builder: str = field(default="", compare=False)

    @property
    def key(self) -> tuple:
        """What identifies a flow on the switch: table, priority and match."""
        return self.table, self.priority, self.match


Built = TypeVar("Built")


def builder(function: Callable[..., Built]) -> Callable[..., Built]:
    """Mark a function as a builder: each flow it returns (one, or a list) carries its
    name as provenance, unless a builder it called named the flow first."""
    name = f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}"

    @functools.wraps(function)
    def build(*args: Any, **kwargs: Any) -> Built:
        built = function(*args, **kwargs)
        for flow in (built,) if isinstance(built, Flow) else built:
            if not flow.builder:
                object.__setattr__(flow, "builder", name)   # frozen: set once, here
        return built
    return build


def arp_reply(ip: str, mac: str) -> tuple[Action, ...]:
    """Turn an ARP request for ``ip`` into the reply 'ip is at mac', in place, and send it
    back where it came from (the ARP responder of ../shared/seeds/001_*.txt §3.2)."""
    return (("set_field", "arp_op", 2), ("move", "arp_sha", "arp_tha"),
            ("move", "arp_spa", "arp_tpa"), ("set_field", "arp_sha", mac),
            ("set_field", "arp_spa", ip), ("move", "eth_src", "eth_dst"),
            ("set_field", "eth_src", mac), ("output", "in_port"))
