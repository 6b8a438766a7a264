"""What the core asks the shim to send, as plain data (no Ryu).

Flow-mods per bridge (each batch gets a barrier), other OpenFlow messages per bridge
(those that must follow the bridge's flow-mods apart from those that may go first),
OVSDB transactions per hypervisor session, and sessions to close.  The shim turns each
into bytes on the right connection and does nothing else with them.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Hashable

from ryu_app.ovsdb.protocol import Operation
from ryu_app.reconciler import FlowMods, add_to


@dataclass(frozen=True)
class PacketOut:
    """A frame the controller built, for one port: sent straight out of it, or through
    ``through`` (the flows' action language, a resubmit where a flow would goto) when
    that port is a filtered VM port, whose ingress filter judges the frame."""

    port: int
    data: bytes
    through: tuple = ()

    @property
    def actions(self) -> tuple:
        """What the packet-out does with the frame."""
        return self.through or (("output", self.port),)


@dataclass(frozen=True)
class FlowStatsRequest:
    """Ask for every flow (or one table's): what carries another cookie is swept when the
    reply comes."""

    table: int | None = None


@dataclass(frozen=True)
class FlowDelete:
    """A strict delete of a flow the switch reported (its match as the switch gave it)."""

    table: int
    priority: int
    match: Any
    cookie: int


@dataclass(frozen=True)
class ForgetLearnedVlan:
    """Delete what the bridge (under ``cookie``, its own) learned into ``table`` for a
    local VLAN: a network that left; the controller's own flows there stay."""

    table: int
    vlan: int
    cookie: int


@dataclass(frozen=True)
class PacketInsToController:
    """Packet-ins for frames whose TTL ran out in dec_ttl (OVS leaves them off by
    default) and for frames flows send to the controller (DHCP requests), all capped on
    the switch by the controller meter at ``rate`` per second."""

    rate: int


@dataclass(frozen=True)
class CtFlushZone:
    """Forget every connection of a conntrack zone (a floating IP that left)."""

    zone: int


@dataclass(frozen=True)
class CtFlushAddress:
    """Forget a zone's connections from and to an address (a port's that left)."""

    zone: int
    address: str


Message = (PacketOut | FlowStatsRequest | FlowDelete | ForgetLearnedVlan | PacketInsToController
           | CtFlushZone | CtFlushAddress)
Transaction = tuple[Hashable, list[Operation]]


@dataclass
class Outputs:
    flow_mods: dict[int, FlowMods] = field(default_factory=dict)          # per datapath id
    messages: dict[int, list[Message]] = field(default_factory=dict)      # per datapath id
    # per datapath id, sent on its connection after its flow-mods (which OVS applies in
    # order): packet-outs that may need those flows, and conntrack flushes, which the
    # next packet would undo if the flows that commit into the zone were still there
    after_flows: dict[int, list[Message]] = field(default_factory=dict)
    transactions: dict[int, list[Transaction]] = field(default_factory=dict)  # per session
    close: set[int] = field(default_factory=set)                          # session ids
    # floating IP -> ACTIVE (to be written once this output's flows are confirmed) | DOWN
    fip_status: dict[str, str] = field(default_factory=dict)
    # an ACTIVE one: the bridges whose confirmation makes it so (none named: all)
    fip_bridges: dict[str, frozenset[int]] = field(default_factory=dict)
    fip_issue: dict[str, int] = field(default_factory=dict)   # handed back with the status
    # gratuitous ARPs, per datapath id: sent once every bridge confirmed this output's
    # flows (a frame out of br-int may need a flow of br-ex that is in the same batch)
    announcements: dict[int, list[PacketOut]] = field(default_factory=dict)
    recomputed: collections.Counter = field(default_factory=collections.Counter)
    # the core holds changes for the next flush (the shim opens a batch for them)
    flush_due: bool = False

    def add_flow_mods(self, dpid: int, mods: FlowMods) -> None:
        add_to(self.flow_mods, dpid, mods)

    def send(self, dpid: int, *messages: Message) -> None:
        self.messages.setdefault(dpid, []).extend(messages)

    def send_after_flows(self, dpid: int, *messages: Message) -> None:
        self.after_flows.setdefault(dpid, []).extend(messages)

    def announce(self, dpid: int, message: PacketOut) -> None:
        self.announcements.setdefault(dpid, []).append(message)

    def transact(self, session: int, transaction: Transaction) -> None:
        self.transactions.setdefault(session, []).append(transaction)

    def merge(self, other: "Outputs") -> "Outputs":
        for dpid, mods in other.flow_mods.items():
            self.add_flow_mods(dpid, mods)
        for dpid, messages in other.messages.items():
            self.send(dpid, *messages)
        for dpid, messages in other.after_flows.items():
            self.send_after_flows(dpid, *messages)
        for session, transactions in other.transactions.items():
            for transaction in transactions:
                self.transact(session, transaction)
        self.close |= other.close
        self.fip_status.update(other.fip_status)
        self.fip_bridges.update(other.fip_bridges)
        self.fip_issue.update(other.fip_issue)
        for dpid, messages in other.announcements.items():
            for message in messages:
                self.announce(dpid, message)
        self.recomputed += other.recomputed
        self.flush_due |= other.flush_due
        return self
