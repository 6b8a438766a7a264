"""Flows as plain, hashable data: what a bridge should hold, independent of Ryu."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

    @property
    def key(self) -> tuple:
        """What identifies a flow on the switch: table, priority and match."""
        return self.table, self.priority, self.match


def arp_reply(ip: str, mac: str) -> tuple[Action, ...]:
    """Turn an ARP request for ``ip`` into the reply 'ip is at mac', in place, and send it
    back where it came from (seed 001's ARP responder)."""
    return (("set_field", "arp_op", 2), ("move", "arp_sha", "arp_tha"),
            ("move", "arp_spa", "arp_tpa"), ("set_field", "arp_sha", mac),
            ("set_field", "arp_spa", ip), ("move", "eth_src", "eth_dst"),
            ("set_field", "eth_src", mac), ("output", "in_port"))
