"""br-int security groups: a stateful firewall per VM port with conntrack (pure).

Seeds 002 and 003 (../shared/seeds/002_*.txt, 003_*.txt) put a Linux bridge (qbr) between
each VM and br-int to run its security group's iptables rules.  This is Neutron's newer
native firewall instead, in OpenFlow on br-int, with Neutron's table numbers: egress
71 (anti-spoofing, into conntrack), 72 (egress rules), 73 (accept, or hand a frame for a
filtered port on this hypervisor to its ingress); ingress 81 (ARP, into conntrack) and 82
(ingress rules, output).  Frames for a filtered port reach 81 from table 60 (by its MAC
and network, or as its router's answer to its ping), from the DVR tables 1/2, from a
route, from a floating IP's DNAT, or from the controller (a packet-out of ICMP time
exceeded).

Egress ends where a frame of a port without filtering starts, in table 60 (routing, NAT,
NORMAL), which lies before 71: the egress tables go back to it with resubmit, as
Neutron's do (goto_table only goes forward).

reg5 holds the filtered port's ofport and reg6 its network's local VLAN, which is also
its conntrack zone: one zone per (network, hypervisor), zones 1-4094 (the NAT zones start
at 4096).  A connection is committed once, on its first packet a rule accepts; later
packets of it pass as established, and replies and related ICMP errors pass in both
directions.  An established packet no rule accepts any more (its rule was deleted) marks
its connection (ct_mark 1) and is dropped, and so is everything marked after it: deleting
a rule cuts what it allowed.

A port in stateless groups (``stateful`` false, which OVN's ``allow-stateless`` ACLs
serve and Neutron's own OVS firewall does not) bypasses conntrack: each packet is judged
by the rules alone, in both directions, so a reply passes only where a rule allows it.

A rule with a remote group is a conjunction (Neutron's, rules.py): one flow per member
address of the group on the hypervisor (clause 1) and one per port and protocol (clause
2), so flows grow with members + rules, not with their product.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.br_int import DHCP_CLIENT, DHCP_SERVER, ETH_TYPE_IP, dhcp_match
from ryu_app.pipeline.flow import ETH_TYPE_ARP, OFPVID_NONE, Flow, builder, match, vlan

TRK, NEW, EST, REL, RPL, INV = T.CT_TRK, T.CT_NEW, T.CT_EST, T.CT_REL, T.CT_RPL, T.CT_INV
# ct_state (value, mask) of each kind of packet the tables tell apart
NEW_CONNECTION = (TRK | NEW, TRK | NEW | EST | INV)                  # +trk+new-est-inv
ESTABLISHED = (TRK | EST, TRK | EST | REL | RPL | INV)                # +est-rel-rpl-inv
REPLY = (TRK | EST | RPL, TRK | EST | REL | RPL | INV)                # +est-rel+rpl-inv
RELATED = (TRK | REL, TRK | REL | NEW | EST | INV)                   # +rel-new-est-inv
INVALID = (TRK | INV, TRK | INV)
NOT_ESTABLISHED = (TRK, TRK | EST)
ANY_ESTABLISHED = (TRK | EST, TRK | EST)
VARIANTS = {"new": NEW_CONNECTION, "established": ESTABLISHED}
KILLED = 1              # ct_mark of a connection whose rule went
OWN_MAC_HANDOVER, PAIR_MAC_HANDOVER = 90, 20   # table 60: a port's own MAC, a pair's
PORT_REG = T.FILTERED_PORT_REG
ZONE_REG = T.LOCAL_VLAN_REG


@dataclass(frozen=True)
class FilteredPort:
    """A VM port with port security, as its hypervisor's br-int filters it."""

    ofport: int
    zone: int                                   # its network's local VLAN here
    mac: str                                    # its own (its pairs' are the bridge's)
    # (MAC, IP or (net, mask), or None for any address: a 0.0.0.0/0 address pair)
    sources: tuple[tuple[str, str | tuple[str, str] | None], ...]
    stateful: bool = True                       # False: its groups are stateless
    subnets: tuple[str | tuple[str, str], ...] = ()   # its fixed IPs' subnets, as matches
    # the MACs of its network's router interfaces: the source of all that is routed to it
    routers: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleMatch:
    """What one security group rule matches, as flow fields (IPv4 only)."""

    direction: str                              # "ingress" | "egress"
    fields: tuple[tuple[str, object], ...]      # ip_proto, ports, ICMP type/code
    prefix: str | tuple[str, str] | None        # the remote IP prefix; None: any
    remote_group: str | None = None


def _rule_table(direction: str) -> int:
    return T.INT_RULES_INGRESS if direction == "ingress" else T.INT_RULES_EGRESS


def _remote_field(direction: str) -> str:
    return "ipv4_src" if direction == "ingress" else "ipv4_dst"


@dataclass(frozen=True, order=True)
class MacMember:
    """A remote group member known by its MAC alone: a port whose 0.0.0.0/0 address pair
    lets it send from any address is a member from its pair's MAC, as in Neutron's
    firewall (an address match would make every address a member)."""

    mac: str


def _member_match(direction: str, member: str | tuple[str, str] | MacMember) -> dict:
    if isinstance(member, MacMember):
        return {"eth_src" if direction == "ingress" else "eth_dst": member.mac}
    return {_remote_field(direction): member}


def variants(port: FilteredPort) -> dict[str, tuple | None]:
    """The kinds of packet the port's rule flows tell apart, by ct_state: new and
    established connections for a stateful port; for a stateless one any packet (no
    ct_state to match), under the ``new`` variant's conjunction ids."""
    return VARIANTS if port.stateful else {"new": None}


def _tracked(state: tuple | None) -> dict:
    """The conntrack match of a variant: a live connection in that state, or nothing."""
    return {"ct_state": state, "ct_mark": 0} if state is not None else {}


def _accept(port: FilteredPort, direction: str, variant: str) -> tuple:
    """What a rule that matched does: egress goes on to 73 (which commits a stateful
    port's new connection); ingress commits a stateful port's new connection and
    delivers."""
    if direction == "egress":
        return (("goto", T.INT_ACCEPT_OR_INGRESS),)
    commit = (("ct", True, port.zone, None, None),) if (
        port.stateful and variant == "new") else ()
    return (*commit, ("output", port.ofport))


# --------------------------------------------------------------- every bridge

@builder
def default_flows() -> list[Flow]:
    """Tables 71-82 at start-up: what no port's flow takes is dropped; in the rule
    tables, invalid and killed connections drop, replies and related ICMP of a connection
    pass egress (to 60), and a new connection no rule accepts drops."""
    flows = [Flow(table, 0) for table in (T.INT_BASE_EGRESS, T.INT_RULES_EGRESS,
                                          T.INT_BASE_INGRESS, T.INT_RULES_INGRESS)]
    flows.append(Flow(T.INT_ACCEPT_OR_INGRESS, 0, (), (("resubmit", T.INT_TRANSIENT),)))
    for table in (T.INT_RULES_EGRESS, T.INT_RULES_INGRESS):
        flows += [Flow(table, 50, match(ct_state=INVALID)),
                  Flow(table, 51, match(ct_state=(TRK, TRK), ct_mark=KILLED)),
                  Flow(table, 40, match(ct_state=NOT_ESTABLISHED))]
    flows += [Flow(T.INT_RULES_EGRESS, 50, match(ct_state=state, ct_mark=0),
                   (("resubmit", T.INT_TRANSIENT),)) for state in (REPLY, RELATED)]
    return flows


# ------------------------------------------------------------ one zone (network)

@builder
def zone_flows(zone: int) -> list[Flow]:
    """Per network on a hypervisor: the zone's commit of new egress connections (73) and
    the kill of established ones no rule accepts any more (72, 82)."""
    ip = {"eth_type": ETH_TYPE_IP, ZONE_REG: zone}
    kill = (("ct_mark", zone, KILLED),)
    return [Flow(T.INT_ACCEPT_OR_INGRESS, 90, match(ct_state=NEW_CONNECTION, **ip),
                 (("ct", True, zone, None, None), ("resubmit", T.INT_TRANSIENT))),
            Flow(T.INT_RULES_EGRESS, 41, match(ct_state=ANY_ESTABLISHED, **ip), kill),
            Flow(T.INT_RULES_INGRESS, 41, match(ct_state=ANY_ESTABLISHED, **ip), kill)]


# --------------------------------------------------------------------- a port

def _to_rules(port: FilteredPort, table: int) -> tuple:
    """Into a rule table: through the port's conntrack zone, or straight for a stateless
    port."""
    if port.stateful:
        return (("ct", False, port.zone, table, None),)
    return (("goto", table),)


@builder
def port_flows(port: FilteredPort) -> list[Flow]:
    """A filtered port's own flows: egress ARP on (24 checked it), IPv4 from its own
    (MAC, address) pairs into conntrack (or straight to the rules, stateless), anything
    else dropped (71); ingress ARP, and DHCP servers' replies from its own subnets,
    delivered (as Neutron's firewall does, where only a port without port security may
    send one), unless a router sent them (whatever their source: a DHCP client's port is
    no way in around the rules), IPv4 into conntrack, or to the rules (81); a stateful
    port's replies and related traffic delivered (82)."""
    here = {PORT_REG: port.ofport}
    flows = [Flow(T.INT_BASE_EGRESS, 95, match(eth_type=ETH_TYPE_ARP, **here),
                  (("resubmit", T.INT_TRANSIENT),))]
    flows += [Flow(T.INT_BASE_EGRESS, 65, match(eth_type=ETH_TYPE_IP, eth_src=mac, **here,
                                                **({"ipv4_src": source} if source else {})),
                   _to_rules(port, T.INT_RULES_EGRESS))
              for mac, source in sorted(set(port.sources), key=str)]
    into_rules = (("ct_clear",), *_to_rules(port, T.INT_RULES_INGRESS))
    flows += [Flow(T.INT_BASE_INGRESS, 100, match(eth_type=ETH_TYPE_ARP, **here),
                   (("output", port.ofport),)),
              Flow(T.INT_BASE_INGRESS, 90, match(eth_type=ETH_TYPE_IP, **here), into_rules)]
    flows += [Flow(T.INT_BASE_INGRESS, 95, dhcp_match(DHCP_SERVER, DHCP_CLIENT, ipv4_src=subnet,
                                                      **here), (("output", port.ofport),))
              for subnet in port.subnets]
    flows += [Flow(T.INT_BASE_INGRESS, 96, dhcp_match(DHCP_SERVER, DHCP_CLIENT, eth_src=mac,
                                                      **here), into_rules)
              for mac in port.routers]
    if port.stateful:
        flows += [Flow(T.INT_RULES_INGRESS, 50, match(ct_state=state, ct_mark=0, **here),
                       (("output", port.ofport),)) for state in (REPLY, RELATED)]
    return flows


@builder
def handover_flows(port: FilteredPort) -> list[Flow]:
    """Frames for a filtered port's own MAC go to its ingress (81) instead of NORMAL: in
    table 60 tagged (from br-tun or br-ethX) or untagged (from a port here without
    filtering), and for a stateful port in 73 from a filtered port of this network here
    (filtered twice, once each way, in the one zone, whose ingress commits).  A
    stateless port's ingress commits nothing, so what a stateful port here sends it is
    committed in 73 first, on its way through 60.  Its address pairs' MACs are the
    bridge's (``pair_handover_flows``)."""
    set_port = ("set_field", PORT_REG, port.ofport)
    flows = [Flow(T.INT_TRANSIENT, OWN_MAC_HANDOVER,
                  match(vlan_vid=vlan(port.zone), eth_dst=port.mac),
                  (("pop_vlan",), set_port, ("set_field", ZONE_REG, port.zone),
                   ("goto", T.INT_BASE_INGRESS))),
             Flow(T.INT_TRANSIENT, OWN_MAC_HANDOVER,
                  match(vlan_vid=OFPVID_NONE, eth_dst=port.mac, **{ZONE_REG: port.zone}),
                  (set_port, ("goto", T.INT_BASE_INGRESS)))]
    if port.stateful:
        flows.append(Flow(T.INT_ACCEPT_OR_INGRESS, 100,
                          match(eth_dst=port.mac, **{ZONE_REG: port.zone}),
                          (set_port, ("goto", T.INT_BASE_INGRESS))))
    return flows


@builder
def pair_handover_flows(zone: int, mac: str, ofports: Iterable[int]) -> list[Flow]:
    """Table 60, priority 20: frames for an address pair's MAC go to the ingress of each
    filtered port of the zone here whose pairs name it, in turn (its reg5, resubmit to
    81: each gets its copy through its own filter, as a VRRP virtual MAC that two ports
    share needs), tagged or untagged as for a port's own MAC.  Below the router's bands
    and the own MACs' 90, and never in 73 (what a port here sends is committed in 73 and
    comes through 60): a pair naming its gateway's MAC or a filtered port's here takes
    nothing from them.  (One naming the MAC of a port without filtering, or of a port on
    another hypervisor, gets what is switched to that MAC here, through its filter, as
    a switch's MAC table would.)"""
    each = tuple(action for ofport in sorted(set(ofports))
                 for action in (("set_field", PORT_REG, ofport),
                                ("resubmit", T.INT_BASE_INGRESS)))
    return [Flow(T.INT_TRANSIENT, PAIR_MAC_HANDOVER, match(vlan_vid=vlan(zone), eth_dst=mac),
                 (("pop_vlan",), ("set_field", ZONE_REG, zone), *each)),
            Flow(T.INT_TRANSIENT, PAIR_MAC_HANDOVER,
                 match(vlan_vid=OFPVID_NONE, eth_dst=mac, **{ZONE_REG: zone}), each)]


def ingress_delivery(port: FilteredPort) -> tuple:
    """The actions that hand a routed or DNATed frame to a filtered port: its ingress."""
    return (("set_field", PORT_REG, port.ofport), ("set_field", ZONE_REG, port.zone),
            ("goto", T.INT_BASE_INGRESS))


def ingress_injection(port: FilteredPort) -> tuple:
    """The actions that hand a frame the controller sends (a packet-out, which has no
    table to go to) to a filtered port: its ingress, by resubmit."""
    *registers, (_, table) = ingress_delivery(port)
    return (*registers, ("resubmit", table))


@builder
def rule_flows(port: FilteredPort, rule: RuleMatch) -> list[Flow]:
    """A rule without a remote group, for one port: a new connection and an established
    one (whose next packet otherwise kills it) each accepted, or any packet for a
    stateless port (72/82, priority 74)."""
    remote = {_remote_field(rule.direction): rule.prefix} if rule.prefix else {}
    return [Flow(_rule_table(rule.direction), 74,
                 match(**_tracked(state), eth_type=ETH_TYPE_IP,
                       **{PORT_REG: port.ofport}, **dict(rule.fields), **remote),
                 _accept(port, rule.direction, variant))
            for variant, state in variants(port).items()]


# ------------------------------------------------------------ remote groups

@builder
def member_flow(direction: str, member: str | tuple[str, str] | MacMember,
                conj_ids: Iterable[int]) -> Flow:
    """Clause 1 of the conjunctions of remote groups with this member address: from
    (ingress) or to (egress) the address, or the MAC (72/82, priority 70).  One per
    hypervisor, not per zone: clause 2 names the port, so a zone would add nothing but
    copies."""
    return Flow(_rule_table(direction), 70,
                match(eth_type=ETH_TYPE_IP, **_member_match(direction, member)),
                tuple(("conjunction", conj_id, 1, 2) for conj_id in sorted(set(conj_ids))))


@builder
def port_clause_flow(port: FilteredPort, direction: str, variant: str,
                      fields: tuple[tuple[str, object], ...], conj_ids: Iterable[int]) -> Flow:
    """Clause 2: the port and a rule's protocol fields, in each conjunction of a rule of
    the port's groups that has them."""
    return Flow(_rule_table(direction), 70,
                match(**_tracked(variants(port)[variant]), eth_type=ETH_TYPE_IP,
                      **{PORT_REG: port.ofport}, **dict(fields)),
                tuple(("conjunction", conj_id, 2, 2) for conj_id in sorted(set(conj_ids))))


@builder
def conjunction_accept_flow(port: FilteredPort, direction: str, variant: str,
                            conj_id: int) -> Flow:
    """Both clauses matched: the port's accept."""
    return Flow(_rule_table(direction), 70, match(conj_id=conj_id, eth_type=ETH_TYPE_IP,
                                                  **{PORT_REG: port.ofport}),
                _accept(port, direction, variant))
