"""Which security-group flows a br-int should hold, from the model's groups, rules and
ports (pure: no Ryu, no I/O).  The builders and the path are in security.py.

A filtered port's own flows (its sources, its hand-over, its rules and its clauses of
remote-group conjunctions) join its device's group, recomputed with the port; what the
filtered ports of a br-int share is its group ``SECURITY`` (each zone's commit and kill
flows and the hand-over of their address pairs' MACs, recomputed when a port there
changes) and one group per remote-group member address and direction (its clause 1:
recomputed for that address alone when a member joins, leaves or changes address, and
all of them when a rule or a port there changes which remote groups are named).
"""
from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple

from ryu_app.model.security_groups import protocol_number
from ryu_app.model.tenant import is_bound_vm_port, pair_macs
from ryu_app.pipeline.addresses import address_match, allowed_sources, prefix_match
from ryu_app.pipeline import security
from ryu_app.pipeline.flow import Flow
from ryu_app.pipeline.security import VARIANTS, FilteredPort, MacMember, RuleMatch
from topology.graph import Bridge

if TYPE_CHECKING:
    from ryu_app.pipeline.planner import Planner

# the protocols whose ports a flow can match, as Neutron's OVS firewall does (DCCP and
# UDP-Lite have no OpenFlow port field: their rules match the protocol alone there too)
PORT_FIELDS = {6: "tcp_dst", 17: "udp_dst", 132: "sctp_dst"}
ICMP = 1


SECURITY: tuple = ("sg",)   # the shared flows of a br-int's filtered ports
DIRECTIONS = ("ingress", "egress")


class _Here(NamedTuple):
    """What the ports a br-int filters share: their zones, their security groups, and
    (zone, MAC) -> the ofports whose address pairs name the MAC."""

    zones: set[int]
    groups: set[str]
    pair_macs: dict[tuple[int, str], list[int]]


def port_masks(low: int, high: int) -> list[tuple[int, int]]:
    """A port range as the fewest (value, mask) matches that cover exactly it."""
    found = []
    while low <= high:
        size = low & -low if low else 1 << 16
        while low + size - 1 > high:
            size >>= 1
        found.append((low, 0xFFFF & ~(size - 1)))
        low += size
    return found


RULE_FIELDS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
               "remote_ip_prefix", "remote_group_id")


def _rule_key(rule: dict) -> tuple:
    return tuple(rule[name] for name in RULE_FIELDS)


@functools.lru_cache(maxsize=65536)
def _rule_matches(key: tuple) -> tuple[RuleMatch, ...]:
    """rule_matches of a rule by its fields (a rule never changes: made once per rule)."""
    return tuple(rule_matches(dict(zip(RULE_FIELDS, key, strict=True))))


def rule_matches(rule: dict) -> list[RuleMatch]:
    """A rule as flow matches: none for an IPv6 rule (no IPv6 here), one per port mask."""
    if rule["ethertype"] != "IPv4":
        return []
    number = protocol_number(rule["protocol"])
    base: tuple = () if number is None else (("ip_proto", number),)
    low, high = rule["port_range_min"], rule["port_range_max"]
    prefix = prefix_match(rule["remote_ip_prefix"])
    if number == ICMP:
        base += tuple(item for item in (("icmpv4_type", low), ("icmpv4_code", high))
                      if item[1] is not None)
    if number in PORT_FIELDS and low is not None:
        field = PORT_FIELDS[number]
        masks = port_masks(low, high if high is not None else low)
        return [RuleMatch(rule["direction"], base + ((field, mask if mask[1] != 0xFFFF
                                                      else mask[0]),), prefix,
                          rule["remote_group_id"]) for mask in masks]
    return [RuleMatch(rule["direction"], base, prefix, rule["remote_group_id"])]


class SecurityPlanner:
    def __init__(self, planner: "Planner"):
        self.planner = planner
        self.model = planner.model
        self._conj_ids: dict[tuple[str, str, str], int] = {}
        # during one_reading: remote group -> its addresses, br-int -> what its ports share
        self._reading: dict[str, list] | None = None
        self._here: dict[int, _Here] | None = None

    @contextlib.contextmanager
    def one_reading(self) -> Iterator[None]:
        """While the model holds still (a flush): the bridges recomputed share one
        reading of each remote group's member addresses, and each bridge's filtered
        ports are looked through once for its zones, named groups and members."""
        self._reading, self._here = {}, {}
        try:
            yield
        finally:
            self._reading, self._here = None, None

    # -------------------------------------------------------------- a port

    def filtered(self, bridge: Bridge, port: dict) -> FilteredPort | None:
        """The port as br-int filters it here: a bound VM port with port security, its
        device on this bridge, its network served here."""
        zone = self._zone(bridge, port)
        if zone is None:
            return None
        device = self.planner.device_of(bridge, port)
        return FilteredPort(device.ofport, zone, port["mac_address"], allowed_sources(port),
                            self.model.stateful(port), self._subnet_matches(port),
                            self._router_macs(port["network_id"]))

    def _subnet_matches(self, port: dict) -> tuple[str | tuple[str, str], ...]:
        """The subnets of the port's fixed IPs, as match values, each once."""
        subnets = self.model.records["subnet"]
        return tuple(dict.fromkeys(address_match(subnets[ip["subnet_id"]]["cidr"])
                                   for ip in port["fixed_ips"] if ip["subnet_id"] in subnets))

    def _router_macs(self, network_id: str) -> tuple[str, ...]:
        """The MACs of the network's router interfaces (up or not): the source of all
        that a router delivers on it."""
        ports = self.model.records["port"]
        return tuple(sorted(ports[port_id]["mac_address"]
                            for port_id in self.model.interfaces_on.get(network_id, ())))

    def _zone(self, bridge: Bridge, port: dict) -> int | None:
        """The port's zone here if br-int filters it here, else None."""
        if bridge.role != "int" or not port.get("port_security_enabled", True) or \
                not is_bound_vm_port(port, bridge.chassis) or \
                self.planner.device_of(bridge, port) is None:
            return None
        return self.planner.local_vlans.get(bridge.chassis, port["network_id"])

    def delivery(self, bridge: Bridge, port: dict) -> tuple | None:
        """How a routed or DNATed frame reaches the port here: through its ingress
        filter when it has one, else straight out of its device."""
        filtered = self.filtered(bridge, port)
        if filtered is not None:
            return security.ingress_delivery(filtered)
        device = self.planner.device_of(bridge, port)
        return (("output", device.ofport),) if device else None

    def injection(self, bridge: Bridge, port: dict | None) -> tuple:
        """How a frame the controller sends the port reaches it: through its ingress
        filter when it has one (its rules judge what the router answers it, as they
        would a router namespace's answer); () when it has none: straight out."""
        filtered = self.filtered(bridge, port) if port is not None else None
        return security.ingress_injection(filtered) if filtered is not None else ()

    def port_flows(self, bridge: Bridge, port: dict) -> list[Flow]:
        """A filtered port's flows on its hypervisor (none when it is not filtered)."""
        filtered = self.filtered(bridge, port)
        if filtered is None:
            return []
        flows = security.port_flows(filtered) + security.handover_flows(filtered)
        clauses: dict[tuple, set[int]] = {}
        for rule in self._rules(port):
            if rule.remote_group is None:
                flows += security.rule_flows(filtered, rule)
                continue
            for variant in security.variants(filtered):
                conj_id = self.conjunction_id(rule.remote_group, rule.direction, variant)
                key = (rule.direction, variant, rule.fields)
                clauses.setdefault(key, set()).add(conj_id)
                flows.append(security.conjunction_accept_flow(filtered, rule.direction,
                                                              variant, conj_id))
        flows += [security.port_clause_flow(filtered, direction, variant, fields, ids)
                  for (direction, variant, fields), ids in sorted(clauses.items(), key=str)]
        return flows

    def _rules(self, port: dict) -> Iterator[RuleMatch]:
        """The flow matches of every rule of the port's groups.  A rule with a remote
        prefix and a remote group cannot exist (the API refuses it)."""
        for group_id in port.get("security_groups", ()):
            yield from self._group_matches(group_id)

    def _group_matches(self, group_id: str) -> list[RuleMatch]:
        return [found for rule in self.model.rules_of(group_id)
                for found in _rule_matches(_rule_key(rule))]

    def conjunction_id(self, remote_group: str, direction: str, variant: str) -> int:
        """The id of the conjunctions of rules with this remote group, one direction, one
        kind of packet: the same on every bridge for the controller's lifetime."""
        key = (remote_group, direction, variant)
        return self._conj_ids.setdefault(key, len(self._conj_ids) + 1)

    # ------------------------------------------------------------ a bridge

    def bridge_flows(self, bridge: Bridge) -> list[Flow]:
        """Each zone's commit and kill flows on a br-int, and the hand-over of its
        filtered ports' address pairs' MACs (its group ``SECURITY``: recomputed when a
        port there changes, so a MAC two ports' pairs name is one flow, never a clash)."""
        here = self._filtered_here(bridge)
        flows = [flow for zone in sorted(here.zones) for flow in _zone_flows(zone)]
        for (zone, mac), ofports in sorted(here.pair_macs.items()):
            flows += security.pair_handover_flows(zone, mac, ofports)
        return flows

    def member_groups(self, bridge: Bridge,
                      only: set | None = None) -> dict[tuple, list[Flow]]:
        """Clause 1 of the conjunctions of every remote group the rules of the bridge's
        filtered ports name: one group per member address and direction, holding its one
        flow with the conjunctions of all those groups it belongs to; ``only`` these
        addresses (those that are no member any more get an empty group)."""
        members: dict[tuple, set[int]] = {}
        named = self.named_remotes(bridge)
        for remote_group, direction in named:
            ids = {self.conjunction_id(remote_group, direction, variant) for variant in VARIANTS}
            for address in self._read_members(remote_group):
                if only is None or address in only:
                    members.setdefault(member_group(direction, address), set()).update(ids)
        found = {group: [_member_flow(group[1], group[2], tuple(sorted(ids)))]
                 for group, ids in members.items()}
        for address in only or ():
            for direction in DIRECTIONS:
                found.setdefault(member_group(direction, address), [])
        return found

    def named_remotes(self, bridge: Bridge) -> frozenset[tuple[str, str]]:
        """(remote group, direction) of every rule of the bridge's filtered ports that
        has a remote group: what decides which member addresses the bridge needs."""
        return frozenset((rule.remote_group, rule.direction)
                         for group_id in self._filtered_here(bridge).groups
                         for rule in self._group_matches(group_id)
                         if rule.remote_group is not None)

    def _filtered_here(self, bridge: Bridge) -> _Here:
        """The zones, the security groups and the address pairs' MACs of the ports a
        br-int filters."""
        if self._here is None:
            return self._look_through(bridge)
        if bridge.dpid not in self._here:
            self._here[bridge.dpid] = self._look_through(bridge)
        return self._here[bridge.dpid]

    def _look_through(self, bridge: Bridge) -> _Here:
        here = _Here(set(), set(), {})
        if bridge.role != "int":
            return here
        for network_id in self.planner.local_vlans.networks_on(bridge.chassis):
            for port in self.planner.ports_by_chassis(network_id).get(bridge.chassis, []):
                if (zone := self._zone(bridge, port)) is not None:
                    here.zones.add(zone)
                    here.groups.update(port.get("security_groups", ()))
                    for mac in self._pair_macs(port):
                        here.pair_macs.setdefault((zone, mac), []).append(
                            self.planner.device_of(bridge, port).ofport)
        return here

    def _pair_macs(self, port: dict) -> set[str]:
        """The MACs the port's address pairs name that are no port's own on its network:
        another port's MAC stays that port's, or a pair would take its frames."""
        return {mac for mac in pair_macs(port)
                if (port["network_id"], mac) not in self.model.mac_holder}

    def pair_claimants(self, network_id: str, macs: Iterable[str]) -> set[str]:
        """The hypervisors where a port of the network has an address pair naming one of
        the MACs: a port that takes one as its own (or gives it up) changes their flows."""
        records = self.model.records["port"]
        return {port["binding:host_id"] for mac in macs
                for port_id in self.model.pair_mac_ports.get((network_id, mac), ())
                if is_bound_vm_port(port := records[port_id])}

    def _read_members(self, group_id: str) -> list:
        """A remote group's member addresses, read once per flush (``one_reading``)."""
        if self._reading is None:
            return self.member_addresses(group_id)
        if group_id not in self._reading:
            self._reading[group_id] = self.member_addresses(group_id)
        return self._reading[group_id]

    def member_addresses(self, group_id: str) -> list[str | tuple[str, str]]:
        """The IPv4 addresses of the group's ports: fixed IPs and address pairs'."""
        records = self.model.records["port"]
        return [address for port_id in self.model.members_of(group_id)
                if (port := records.get(port_id)) is not None
                for address in addresses_of(port)]


def member_group(direction: str, address: str | tuple[str, str]) -> tuple:
    """One member address's clause-1 flow for one direction, on a br-int."""
    return ("member", direction, address)


def addresses_of(port: dict) -> list[str | tuple[str, str] | MacMember]:
    """A port's IPv4 addresses as a remote group's member: fixed IPs, address pairs';
    a 0.0.0.0/0 pair makes it a member by the pair's MAC (by address it would make every
    address a member)."""
    return [MacMember(mac) if address is None else address
            for mac, address in allowed_sources(port)]


@functools.lru_cache(maxsize=4096)
def _zone_flows(zone: int) -> tuple[Flow, ...]:
    """A zone's commit and kill flows are the same on every hypervisor: built once."""
    return tuple(security.zone_flows(zone))


@functools.lru_cache(maxsize=65536)
def _member_flow(direction: str, address: str | tuple[str, str], ids: tuple[int, ...]) -> Flow:
    """A member's clause-1 flow is the same on every hypervisor: built once."""
    return security.member_flow(direction, address, ids)

