"""An offline simulator of OpenFlow 1.3 pipelines as Open vSwitch runs them (pure: no Ryu,
no I/O), modelled on Faucet's ``fakeoftable``.

Given the bridges of several hypervisors (their flows, ports and access tags) and a packet
entering one bridge port, ``simulate`` walks the tables and reports every lookup (a
``Step``) and every place the packet, or a copy of it, ends up (an ``Outcome``): delivered
to a device, put on a physical network, sent to the controller, dropped, sent into a
tunnel nobody terminates, or stopped by loop protection.  It follows goto_table, patch
ports into the peer bridge, tunnel ports to the remote hypervisor's tunnel bridge and
physical uplinks to the other hypervisors' bridges of the same physical network.

A packet is a plain dict of OXM field -> value, the names and value forms of ``Flow``
matches (``vlan_vid`` with OFPVID_PRESENT, absent or 0 when untagged).  The simulation is
stateless: ``learn`` only notes that it would learn, and ``output:normal`` uses the MAC
table each bridge is given (``SimBridge.fdb``), never one it learns.  Conntrack is as
stateless: ``ct`` NATs to the address it names, a bare ``nat`` (which undoes the
connection's NAT) sets the fields the packet's ``ct_nat_after`` gives, as (field, value)
pairs (none: nothing), and a packet it recirculates comes back in its zone with the
``ct_state`` the packet's ``ct_state_after`` field gives (+trk+est if none; a sequence
gives one state per recirculation in turn, its last repeating) and the
``ct_mark`` its ``ct_mark_after`` gives (else the ``ct_mark`` it had: none is 0).
``("ct_mark", zone, mark)``, ct(commit) with exec(set_field:mark->ct_mark), only notes the
mark it would commit; like every ct without a table it recirculates nothing and leaves the
packet untracked (OVS clears ct_state, ct_zone and ct_mark after a ct action).  ct_clear,
and a patch or tunnel crossing, untrack a packet too.

Lookups follow Open vSwitch's conjunctive match (ovs-fields(7)): a flow whose actions are
``("conjunction", id, k, n)`` never matches by itself; at one priority, conjunction ``id``
is satisfied when, for each clause k of 1..n, a flow of that priority with (id, k)
matches.  The table's result is the highest-priority matching ordinary flow, unless a
satisfied conjunction has a higher priority (ties go to the ordinary flow): then the
lookup is repeated, conjunctions ignored, with the packet's ``conj_id`` set to that id (0
otherwise, so a ``conj_id=id`` flow matches only then), and what it finds is the result
(a step notes the id); if it finds nothing the next satisfied conjunction, and at last the
ordinary flow, are tried.  conj_id is 0 again for the actions and the next table.

A flow may set the in_port later tables and outputs see (``in_port_nxm``, as OVS takes
it; the OXM ``in_port`` it refuses in a set_field): output to the port a packet came in
by is then no hairpin.  ``inject`` walks a packet-out: the controller's frame through
its actions from OFPP_CONTROLLER.
"""
from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ryu_app.pipeline.flow import ETH_TYPE_ARP, OFPVID_PRESENT, Flow
from ryu_app.pipeline.tables import DEAD_VLAN   # the tag of a port that must pass nothing
from ryu_app.pipeline.tables import SETTABLE_IN_PORT
from topology.naming import PortInfo

Packet = dict[str, Any]
ETH_TYPE_IP = 0x0800
BROADCAST = "ff:ff:ff:ff:ff:ff"
IP_PROTOS = {"icmp": 1, "tcp": 6, "udp": 17, "sctp": 132}
DEFAULT_TTL = 64
MAX_ENTRIES = 64   # bridge entries per run before the walk is called a loop
MAX_RESUBMITS = 64   # per run: OVS stops a translation after 64 resubmits (MAX_DEPTH)
VLAN_INNER = "vlan_inner"   # tags under the outer one (push_vlan on a tagged frame)
KINDS = ("delivered", "physical", "controller", "dropped", "tunnel to nowhere", "loop")
_REGISTER = re.compile(r"reg\d+$")
CONNTRACK = ("ct_state", "ct_zone", "ct_mark")   # a packet's conntrack: 0 while untracked
CT_TRK, CT_EST = 0x20, 0x02
CT_STATE_AFTER = "ct_state_after"     # a packet's ct_state once recirculated (a test's)
CT_MARK_AFTER = "ct_mark_after"       # its connection's ct_mark then (else it keeps its own)
CONJ_ID = "conj_id"   # set only for the lookup a satisfied conjunction repeats
IN_PORT = "in_port"   # in a packet only once a flow set it (else the port it came in by)
CT_NAT_AFTER = "ct_nat_after"         # what a bare nat restores: ((field, value), ...)
PACKET_OUT = -1   # the "table" of a packet-out's actions in a Step
CONTROLLER = PortInfo("CONTROLLER", 0xFFFFFFFD)   # OFPP_CONTROLLER: a packet-out's in_port
MAX_RECIRCULATIONS = 6   # per packet, as dpif-netdev's MAX_RECIRC_DEPTH (5 to 8 by version)


# ------------------------------------------------------------------- packets

def arp_request(src_mac: str, src_ip: str, target_ip: str, **fields: Any) -> Packet:
    """A broadcast 'who has target_ip? tell src_ip' from src_mac."""
    return {"eth_dst": BROADCAST, "eth_src": src_mac, "eth_type": ETH_TYPE_ARP, "arp_op": 1,
            "arp_spa": src_ip, "arp_tpa": target_ip, "arp_sha": src_mac,
            "arp_tha": "00:00:00:00:00:00", **fields}


def ipv4(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, proto: str | int = "icmp",
         **fields: Any) -> Packet:
    """An IPv4 frame, TTL 64: an ICMP echo request by default; for "tcp"/"udp"/"sctp" from
    port 40000 to 80/53/5000 (override any field, e.g. ``tcp_dst=22``, ``nw_ttl=1``)."""
    number = IP_PROTOS.get(proto, proto) if isinstance(proto, str) else proto
    packet: Packet = {"eth_dst": dst_mac, "eth_src": src_mac, "eth_type": ETH_TYPE_IP,
                      "ip_proto": number, "ipv4_src": src_ip, "ipv4_dst": dst_ip,
                      "nw_ttl": DEFAULT_TTL}
    if number == IP_PROTOS["icmp"]:
        packet.update(icmpv4_type=8, icmpv4_code=0)
    elif number == IP_PROTOS["tcp"]:
        packet.update(tcp_src=40000, tcp_dst=80)
    elif number == IP_PROTOS["udp"]:
        packet.update(udp_src=40000, udp_dst=53)
    elif number == IP_PROTOS["sctp"]:
        packet.update(sctp_src=40000, sctp_dst=5000)
    packet.update(fields)
    return packet


def is_tagged(packet: Mapping[str, Any]) -> bool:
    return bool(packet.get("vlan_vid", 0) & OFPVID_PRESENT)


def _push_vlan(packet: Packet) -> None:
    """OpenFlow 1.3 push_vlan: a new outer tag, copying the VID of the tag it covers
    (VID 0 on an untagged frame) until a set_field changes it."""
    if is_tagged(packet):
        packet[VLAN_INNER] = (packet["vlan_vid"],) + packet.get(VLAN_INNER, ())
    else:
        packet["vlan_vid"] = OFPVID_PRESENT


def _pop_vlan(packet: Packet) -> None:
    """pop_vlan: the outer tag goes; on an untagged frame OVS does nothing."""
    inner = packet.pop(VLAN_INNER, ())
    if inner:
        packet["vlan_vid"] = inner[0]
        if inner[1:]:
            packet[VLAN_INNER] = inner[1:]
    else:
        packet.pop("vlan_vid", None)


def _is_multicast(mac: str) -> bool:
    return bool(int(mac.split(":", 1)[0], 16) & 1)   # the group bit of the first octet


def _is_metadata(name: str) -> bool:
    """Pipeline fields (not packet headers): any packet can have them written."""
    return name in ("tunnel_id", "metadata") or bool(_REGISTER.match(name))


def _absent(name: str) -> int | None:
    """A field's value, for matching, in a packet without it: registers, metadata and
    tunnel_id are 0 until set, an untracked packet's ct_state, ct_zone and ct_mark are 0,
    conj_id is 0 outside a conjunction's lookup, an untagged frame matches
    vlan_vid=OFPVID_NONE (0), and a missing header matches nothing (None: arp_tpa never
    matches an IP packet)."""
    return 0 if (_is_metadata(name) or name in ("vlan_vid", CONJ_ID)
                 or name in CONNTRACK) else None


def _canonical(packet: Mapping[str, Any]) -> Packet:
    """A working copy: untagged as no ``vlan_vid``, an IP packet with a TTL."""
    packet = dict(packet)
    if not packet.get("vlan_vid"):
        packet.pop("vlan_vid", None)
    if packet.get("eth_type") == ETH_TYPE_IP:
        packet.setdefault("nw_ttl", DEFAULT_TTL)
    return packet


def _freeze(packet: Packet) -> tuple:
    return tuple(sorted(packet.items()))


# ------------------------------------------------------------------- matching

@functools.lru_cache(maxsize=8192)
def _as_int(value: Any) -> int:
    """Match values and packet fields as integers: MACs and IPv4 addresses by their bits."""
    if isinstance(value, int):
        return value
    if ":" in value:
        return int(value.replace(":", ""), 16)
    return int(ipaddress.IPv4Address(value))


# A compiled match: (field, value & mask, mask or None for an exact match, _absent(field))
Compiled = tuple[tuple[str, int, int | None, int | None], ...]


def _compile(match: Iterable[tuple[str, Any]]) -> Compiled:
    compiled = []
    for name, value in match:
        if isinstance(value, tuple):
            mask = _as_int(value[1])
            compiled.append((name, _as_int(value[0]) & mask, mask, _absent(name)))
        else:
            compiled.append((name, _as_int(value), None, _absent(name)))
    return tuple(compiled)


def _fields(packet: Packet, in_port: int) -> dict[str, int]:
    """The packet as a switch matches it: every field as an integer."""
    fields = {name: _as_int(value) for name, value in packet.items()
              if isinstance(value, (int, str)) and name != CONJ_ID}   # no packet has one
    fields.setdefault(IN_PORT, in_port)
    return fields


def _matches(compiled: Compiled, fields: dict[str, int]) -> bool:
    for name, value, mask, absent in compiled:
        have = fields.get(name, absent)
        if have is None or (have if mask is None else have & mask) != value:
            return False
    return True


class _Table:
    """One table's flows: the ordinary ones, and apart from them the conjunction clauses
    (flows whose actions are conjunctions), which never match by themselves.  A lookup
    finds the best ordinary flow, then only if some clause of a higher priority matches
    does it look at conjunctions (see the module's docstring)."""

    def __init__(self, flows: list[tuple[int, Flow]]):
        entries = sorted(((-flow.priority, order), flow, _compile(flow.match))
                         for order, flow in flows)
        self.ordinary = _Buckets([entry for entry in entries if not _clauses(entry[1])])
        self.clauses = _Buckets([entry for entry in entries if _clauses(entry[1])])

    def lookup(self, fields: dict[str, int]) -> Flow | None:
        return self.find(fields)[0]

    def find(self, fields: dict[str, int]) -> tuple[Flow | None, int | None]:
        """The flow the packet hits, and the conjunction id that led to it (None: none)."""
        best = self.ordinary.first(fields)
        if not self.clauses.entries:
            return (best[1] if best else None), None
        floor = -best[0][0] if best else None   # only clauses above it can win
        for conj_id in _satisfied(self.clauses.matching(fields, floor)):
            found = self.ordinary.first({**fields, CONJ_ID: conj_id})
            if found is not None:
                return found[1], conj_id
        return (best[1] if best else None), None


class _Buckets:
    """Flows best first (highest priority, then the earliest given), hashed on the
    exact-match field that splits them best, and those without it hashed again the same
    way on another field when there are many, so a lookup in a table of thousands of
    l2pop, route or remote-group flows (members by address, ports by reg5) looks at a
    handful."""

    NESTED = 16   # flows left unhashed before they get an index of their own

    def __init__(self, entries: list):
        self.entries = entries
        self.key = _index_field(entries)
        self.absent = _absent(self.key) if self.key else None
        self.buckets: dict[int, list] = {}
        self.rest: list = []
        for entry in entries:
            exact = {name: value for name, value, mask, _ in entry[2] if mask is None}
            if self.key in exact:
                self.buckets.setdefault(exact[self.key], []).append(entry)
            else:
                self.rest.append(entry)
        # none of the rest has the key exactly: a deeper index hashes on another field
        deep = self.key is not None and len(self.rest) > self.NESTED
        self.deeper = _Buckets(self.rest) if deep else None

    def _bucket(self, fields: dict[str, int]) -> list:
        return self.buckets.get(fields.get(self.key, self.absent), []) if self.key else []

    def first(self, fields: dict[str, int]) -> tuple | None:
        """The best matching entry (sort key, flow, compiled match), if any."""
        best = next((entry for entry in self._bucket(fields) if _matches(entry[2], fields)),
                    None)
        if self.deeper is not None:
            other = self.deeper.first(fields)
        else:   # best first: stop at the first match, or once none can beat ``best``
            other = next((entry for entry in self.rest
                          if (best is not None and entry[0] > best[0])
                          or _matches(entry[2], fields)), None)
        if other is None or (best is not None and best[0] < other[0]):
            return best
        return other

    def matching(self, fields: dict[str, int], floor: int | None) -> list:
        """Every matching entry of a priority above ``floor`` (None: any), best first."""
        found = _above(self._bucket(fields), fields, floor)
        found += (self.deeper.matching(fields, floor) if self.deeper is not None
                  else _above(self.rest, fields, floor))
        return sorted(found, key=lambda entry: entry[0])


def _above(entries: list, fields: dict[str, int], floor: int | None) -> list:
    """The matching entries of a priority above ``floor``, of entries best first."""
    found = []
    for entry in entries:
        if floor is not None and -entry[0][0] <= floor:
            break
        if _matches(entry[2], fields):
            found.append(entry)
    return found


def _clauses(flow: Flow) -> tuple[tuple[int, int, int], ...]:
    """A flow's (id, clause, n_clauses) conjunctions; OVS refuses a flow mixing them with
    any other action (NXBAC_BAD_CONJUNCTION), or with n < 2 or a clause outside 1..n."""
    clauses = tuple(action[1:] for action in flow.actions if action[0] == "conjunction")
    if clauses and (len(clauses) != len(flow.actions) or not all(
            2 <= n <= 64 and 1 <= k <= n for _, k, n in clauses)):
        raise ValueError(f"OVS refuses a flow with these conjunctions: {flow}")
    return clauses


def _satisfied(entries: list) -> list[int]:
    """The conjunction ids these matching clause flows (best first) satisfy, best first:
    by priority, and at one priority by id (OVS leaves overlapping conjunctions, which a
    packet satisfies together, unpredictable)."""
    by_priority: dict[int, dict[tuple[int, int], set[int]]] = {}
    for _, flow, _ in entries:
        seen = by_priority.setdefault(flow.priority, {})
        for conj_id, clause, n_clauses in _clauses(flow):
            seen.setdefault((conj_id, n_clauses), set()).add(clause)
    return [conj_id for priority in sorted(by_priority, reverse=True)
            for (conj_id, n_clauses), clauses in sorted(by_priority[priority].items())
            if len(clauses) == n_clauses]


def _index_field(entries: list) -> str | None:
    """The field whose exact values leave the fewest flows to scan in the worst case (the
    unhashed ones plus the largest bucket); None when no field beats a plain scan."""
    values: dict[str, dict[int, int]] = {}
    for _, _, compiled in entries:
        for name, value, mask, _ in compiled:
            if mask is None:
                counts = values.setdefault(name, {})
                counts[value] = counts.get(value, 0) + 1
    best, best_cost = None, len(entries)
    for name in sorted(values):
        counts = values[name]
        cost = len(entries) - sum(counts.values()) + max(counts.values())
        if cost < best_cost:
            best, best_cost = name, cost
    return best


# ------------------------------------------------------------------- the fabric

def _index(flows: tuple[Flow, ...]) -> dict[int, _Table]:
    by_table: dict[int, list[tuple[int, Flow]]] = {}
    for order, flow in enumerate(flows):
        by_table.setdefault(flow.table, []).append((order, flow))
    return {table: _Table(entries) for table, entries in by_table.items()}


@dataclass
class SimBridge:
    dpid: int
    chassis: str          # the hypervisor's name
    name: str             # e.g. "br-int"
    role: str             # "int" | "tun" | "phys"
    flows: list[Flow]
    ports: list[PortInfo]
    tags: dict[str, int] = field(default_factory=dict)  # port name -> access VLAN
    physnet: str | None = None    # phys bridges: the physical network they serve
    # NORMAL's MAC table of a converged switch: (VLAN, lower-case MAC) -> ofport
    fdb: dict[tuple[int, str], int] = field(default_factory=dict)
    _cache: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def tables(self) -> dict[int, _Table]:
        """The flows indexed per table: built once, and again only when ``flows`` changed
        (checking costs a pointer comparison per flow; a run checks once per bridge)."""
        snapshot = tuple(self.flows)
        if self._cache is None or self._cache[0] != snapshot:
            self._cache = (snapshot, _index(snapshot))
        return self._cache[1]

    def lookup(self, table: int, packet: Mapping[str, Any], in_port: int) -> Flow | None:
        """The flow of ``table`` the packet (entered at ofport ``in_port``) hits, if any."""
        found = self.tables().get(table)
        return found.lookup(_fields(_canonical(packet), in_port)) if found else None

    def port(self, name_or_ofport: str | int) -> PortInfo | None:
        key = "name" if isinstance(name_or_ofport, str) else "ofport"
        return next((port for port in self.ports if getattr(port, key) == name_or_ofport),
                    None)

    def uplink(self) -> PortInfo | None:
        """A physical bridge's NIC: its port of kind "other"."""
        return next((port for port in self.ports if port.kind == "other"), None)


@dataclass
class Fabric:
    bridges: list[SimBridge]
    tunnel_ips: dict[str, str] = field(default_factory=dict)   # chassis -> tunnel IP

    def bridge(self, chassis: str, name: str) -> SimBridge:
        for bridge in self.bridges:
            if (bridge.chassis, bridge.name) == (chassis, name):
                return bridge
        raise KeyError(f"no bridge {name} on {chassis}")

    def port_owner(self, chassis: str, port_name: str) -> tuple[SimBridge, PortInfo] | None:
        """The bridge of the chassis with a port of this name (a patch port's peer)."""
        for bridge in self.bridges:
            if bridge.chassis == chassis and (port := bridge.port(port_name)) is not None:
                return bridge, port
        return None

    def tunnel_end(self, chassis: str, tunnel: PortInfo) -> tuple[SimBridge, PortInfo] | None:
        """Where a tunnel port's frames come out: on the hypervisor with the remote IP, the
        tunnel port of the same type whose remote IP is this hypervisor's."""
        local_ip = self.tunnel_ips.get(chassis)
        for remote, ip in self.tunnel_ips.items():
            if ip != tunnel.remote_ip or remote == chassis or local_ip is None:
                continue
            for bridge in self.bridges:
                for port in bridge.ports if bridge.chassis == remote else ():
                    if (port.kind, port.tunnel_type, port.remote_ip) == (
                            "tunnel", tunnel.tunnel_type, local_ip):
                        return bridge, port
        return None


# ------------------------------------------------------------------- results

@dataclass
class Step:
    """One table lookup: where, the packet as it entered the table, and what it hit."""

    chassis: str
    bridge: str
    table: int
    in_port: int
    packet: Packet
    flow: Flow | None          # None: table miss
    notes: list[str] = field(default_factory=list)   # "learn ...", skipped actions

    @property
    def actions(self) -> tuple:
        return self.flow.actions if self.flow is not None else ()


@dataclass
class Hop:
    """A packet entering a bridge (the start, or after a patch, tunnel or wire)."""

    chassis: str
    bridge: str
    port: str
    ofport: int
    packet: Packet
    after: int = 0             # how many steps came before it (for the trace)


@dataclass
class Outcome:
    kind: str                  # one of KINDS
    chassis: str
    bridge: str
    port: str | None           # the port it left by (None when it left by none)
    ofport: int | None
    packet: Packet             # as it left (or as it was when dropped)
    table: int | None = None   # dropped / controller: the table of the decision
    reason: str = ""           # dropped: "table miss", "drop flow", "no output", ...
    after: int = 0             # how many steps came before it (for the trace)


@dataclass
class Result:
    steps: list[Step] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    hops: list[Hop] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.kind == kind]

    def delivered_to(self) -> list[tuple[str, str]]:
        """(chassis, port name) of every delivery, in walk order."""
        return [(o.chassis, o.port) for o in self.of_kind("delivered")]

    def packets_at(self, chassis: str, port: str) -> list[Packet]:
        return [o.packet for o in self.of_kind("delivered") if (o.chassis, o.port) == (
            chassis, port)]

    def packet_at(self, chassis: str, port: str) -> Packet:
        """The one packet delivered to this port (an error unless exactly one was)."""
        found = self.packets_at(chassis, port)
        if len(found) != 1:
            raise LookupError(f"{len(found)} packets delivered to {port} on {chassis}")
        return found[0]

    def path(self) -> list[tuple[str, str, int]]:
        """(chassis, bridge, table) of every lookup, in walk order."""
        return [(step.chassis, step.bridge, step.table) for step in self.steps]

    def format(self) -> str:
        """A readable trace in walk order: entries, lookups and outcomes, a line each."""
        events: list[tuple[int, int, str]] = []   # (steps before, order, line)
        for hop in self.hops:
            events.append((hop.after, 0, f"-> {hop.chassis} {hop.bridge} in {hop.port} "
                                         f"({hop.ofport})"))
        for number, step in enumerate(self.steps):
            flow = step.flow
            hit = "miss" if flow is None else f"priority={flow.priority} {dict(flow.match)}"
            notes = f" ({'; '.join(step.notes)})" if step.notes else ""
            if getattr(flow, "builder", ""):   # provenance, where the flow carries it
                notes += f" [{flow.builder}]"
            events.append((number, 1, f"   table {step.table}: {hit} -> {step.actions}{notes}"))
        for outcome in self.outcomes:
            words = [outcome.kind, outcome.chassis, outcome.bridge, outcome.port or "",
                     "" if outcome.table is None else f"table {outcome.table}", outcome.reason]
            events.append((outcome.after - 1, 2, "=> " + " ".join(w for w in words if w)))
        return "\n".join(line for *_, line in sorted(events, key=lambda e: e[:2]))


# ------------------------------------------------------------------- the walk

def simulate(fabric: Fabric, chassis: str, bridge_name: str, in_port: str | int,
             packet: Mapping[str, Any], *, max_entries: int = MAX_ENTRIES) -> Result:
    """Send ``packet`` into ``in_port`` (name or ofport) of a bridge and follow it, and
    every copy of it, to where it ends up."""
    bridge = fabric.bridge(chassis, bridge_name)
    port = bridge.port(in_port)
    if port is None:
        raise KeyError(f"no port {in_port} on {bridge_name} of {chassis}")
    run = _Run(fabric, max_entries)
    # the packet may come tracked (a test gives its ct_state): only crossings untrack it
    run.enter(bridge, port, _canonical(packet), via_tunnel=port.kind == "tunnel",
              tracked=True)
    return run.result


def inject(fabric: Fabric, chassis: str, bridge_name: str, actions: tuple,
           packet: Mapping[str, Any], *, max_entries: int = MAX_ENTRIES) -> Result:
    """A packet-out: the controller's ``packet`` through ``actions`` on a bridge, from
    OFPP_CONTROLLER, then followed as ``simulate`` follows a packet.  Its first step is
    the packet-out itself (table ``PACKET_OUT``)."""
    bridge = fabric.bridge(chassis, bridge_name)
    run = _Run(fabric, max_entries)
    run.inject(bridge, _canonical(packet), actions)
    return run.result


class _Run:
    def __init__(self, fabric: Fabric, max_entries: int):
        self.fabric = fabric
        self.max_entries = max_entries
        self.result = Result()
        self.seen: set[tuple] = set()
        self.tables: dict[int, dict[int, _Table]] = {}   # id(bridge) -> its index
        self.resubmits = 0

    def lookup(self, bridge: SimBridge, table: int, packet: Packet,
               in_port: int) -> tuple[Flow | None, int | None]:
        """The flow the packet hits, and the conjunction id it was found by, if any."""
        if id(bridge) not in self.tables:
            self.tables[id(bridge)] = bridge.tables()
        found = self.tables[id(bridge)].get(table)
        return found.find(_fields(packet, in_port)) if found else (None, None)

    def outcome(self, kind: str, bridge: SimBridge, port: PortInfo | None, packet: Packet,
                table: int | None = None, reason: str = "") -> None:
        self.result.outcomes.append(Outcome(
            kind, bridge.chassis, bridge.name, port.name if port else None,
            port.ofport if port else None, dict(packet), table, reason,
            len(self.result.steps)))

    def drop(self, bridge: SimBridge, packet: Packet, table: int, reason: str) -> None:
        self.outcome("dropped", bridge, None, packet, table, reason)

    def enter(self, bridge: SimBridge, port: PortInfo, packet: Packet,
              via_tunnel: bool = False, tracked: bool = False) -> None:
        # OVS starts each bridge with registers, metadata and conntrack state zeroed, and
        # the tunnel metadata too unless the packet came out of a tunnel (a patch port
        # crossing clears them: compose_output_action__ in ofproto-dpif-xlate.c; another
        # hypervisor's conntrack never saw the packet).
        packet = {name: value for name, value in packet.items()
                  if not (_REGISTER.match(name) or name in ("metadata", IN_PORT)
                          or (name in CONNTRACK and not tracked)
                          or (name == "tunnel_id" and not via_tunnel))}
        if len(self.result.hops) >= self.max_entries:
            self.outcome("loop", bridge, port, packet, reason="entry limit")
            return
        key = (bridge.chassis, bridge.name, port.ofport, _freeze(packet))
        if key in self.seen:
            self.outcome("loop", bridge, port, packet, reason="revisit")
            return
        self.seen.add(key)
        self.result.hops.append(Hop(bridge.chassis, bridge.name, port.name, port.ofport,
                                    dict(packet), len(self.result.steps)))
        self.walk(bridge, port, packet)

    def inject(self, bridge: SimBridge, packet: Packet, actions: tuple) -> None:
        flow = Flow(PACKET_OUT, 0, (), actions)
        step = Step(bridge.chassis, bridge.name, PACKET_OUT, CONTROLLER.ofport, dict(packet),
                    flow)
        self.result.steps.append(step)
        recirculated: list[tuple[int, Packet]] = []
        if self.apply(bridge, CONTROLLER, packet, flow, step, recirculated) is not None:
            raise ValueError("goto in a packet-out: it has no table to go from (resubmit)")
        self.recirculate(bridge, CONTROLLER, recirculated, 0)

    def walk(self, bridge: SimBridge, in_port: PortInfo, packet: Packet, table: int = 0,
             depth: int = 0) -> None:
        """The tables from ``table`` on, then each copy a ct action recirculated."""
        recirculated: list[tuple[int, Packet]] = []
        self.pipeline(bridge, in_port, packet, table, recirculated)
        self.recirculate(bridge, in_port, recirculated, depth)

    def recirculate(self, bridge: SimBridge, in_port: PortInfo,
                    recirculated: list[tuple[int, Packet]], depth: int) -> None:
        """Each copy a ct action recirculated, in order: the datapath runs a
        recirculation after the actions it came with."""
        for next_table, copy in recirculated:
            if depth >= MAX_RECIRCULATIONS:
                self.outcome("loop", bridge, None, copy, next_table, "recirculation limit")
            else:
                self.walk(bridge, in_port, copy, next_table, depth + 1)

    def pipeline(self, bridge: SimBridge, in_port: PortInfo, packet: Packet,
                 table: int | None, recirculated: list[tuple[int, Packet]]) -> None:
        while table is not None:
            ofport = packet.get(IN_PORT, in_port.ofport)
            flow, conj_id = self.lookup(bridge, table, packet, ofport)
            step = Step(bridge.chassis, bridge.name, table, ofport, dict(packet), flow)
            if conj_id is not None:   # found by the lookup the conjunction repeated
                step.notes.append(f"conjunction {conj_id}: conj_id={conj_id}")
            self.result.steps.append(step)
            if flow is None:   # OpenFlow 1.3: a table miss without a miss flow drops
                self.drop(bridge, packet, table, "table miss")
                return
            if not flow.actions:
                self.drop(bridge, packet, table, "drop flow")
                return
            table = self.apply(bridge, in_port, packet, flow, step, recirculated)

    def apply(self, bridge: SimBridge, in_port: PortInfo, packet: Packet, flow: Flow,
              step: Step, recirculated: list[tuple[int, Packet]]) -> int | None:
        """Apply-actions in order on ``packet`` (outputs send copies as it is then, a ct
        with a table adds one to ``recirculated``); the goto_table instruction comes
        after them.  Returns the next table, if any."""
        goto, sent = None, False
        for action in flow.actions:
            kind = action[0]
            if kind == "goto":
                goto = action[1]
            elif kind == "output":
                self.output(bridge, in_port, packet, action[1], flow.table)
                sent = True
            elif kind == "set_field":
                _set_field(packet, action[1], action[2], step)
            elif kind == "move":
                _move(packet, action[1], action[2], step)
            elif kind == "push_vlan":
                _push_vlan(packet)
            elif kind == "pop_vlan":
                _pop_vlan(packet)
            elif kind == "dec_ttl":
                if packet.get("eth_type") != ETH_TYPE_IP:
                    step.notes.append("dec_ttl ignored: not IP")   # as OVS does
                elif packet.get("nw_ttl", DEFAULT_TTL) <= 1:
                    # OVS sends it to the controller (OFPR_INVALID_TTL) and stops: no
                    # further action of this flow, no goto
                    self.outcome("controller", bridge, None, packet, flow.table, "invalid_ttl")
                    return None
                else:
                    packet["nw_ttl"] = packet.get("nw_ttl", DEFAULT_TTL) - 1
            elif kind == "learn":
                step.notes.append(f"learn into table {action[1]} priority {action[2]}")
            elif kind == "meter":
                step.notes.append(f"meter {action[1]}: at most {action[2]} packets/s")
            elif kind == "ct":
                forked = _conntrack(packet, action, step)
                if forked is not None:
                    recirculated.append(forked)
                    sent = True   # the copy goes on: no drop for want of an output
            elif kind == "ct_mark":
                _commit_mark(packet, action, step)
            elif kind == "ct_clear":
                _untrack(packet)
            elif kind == "resubmit":
                self.resubmit(bridge, in_port, packet, action[1], flow.table, recirculated)
                sent = True   # what the resubmitted lookup does decides its fate
            else:
                raise ValueError(f"unsupported action {action!r}")
        if goto is not None:
            if goto <= flow.table:   # OpenFlow forbids it; OVS rejects such a flow
                raise ValueError(f"goto from table {flow.table} back to {goto}")
            return goto
        if not sent:
            self.drop(bridge, packet, flow.table, "no output")
        return None

    def resubmit(self, bridge: SimBridge, in_port: PortInfo, packet: Packet, table: int,
                 from_table: int, recirculated: list[tuple[int, Packet]]) -> None:
        """resubmit(,table): the packet as it is now through that table (and on from it),
        changed in place as OVS does; then the flow's remaining actions go on."""
        self.resubmits += 1
        if self.resubmits > MAX_RESUBMITS:
            self.outcome("loop", bridge, None, packet, from_table, "resubmit limit")
            return
        self.pipeline(bridge, in_port, packet, table, recirculated)

    def output(self, bridge: SimBridge, in_port: PortInfo, packet: Packet, port: Any,
               table: int) -> None:
        if port == "normal":
            for out, frame in self.normal(bridge, in_port, packet, table):
                self.leave(bridge, out, frame)
            return
        if port == "controller":
            self.outcome("controller", bridge, None, packet, table, "action")
            return
        if port != "in_port" and not isinstance(port, int):
            raise ValueError(f"unsupported output port {port!r}")
        current = packet.get(IN_PORT, in_port.ofport)   # a flow may have set another
        number = current if port == "in_port" else port
        target = bridge.port(number)
        if target is None:
            self.drop(bridge, packet, table, f"no port {number}")
            return
        if port != "in_port" and number == current:   # OVS: only OFPP_IN_PORT sends back
            self.drop(bridge, packet, table, "output to the in_port")
            return
        self.leave(bridge, target, dict(packet))

    def normal(self, bridge: SimBridge, in_port: PortInfo, packet: Packet,
               table: int) -> list[tuple[PortInfo, Packet]]:
        """OVS's NORMAL action (xlate_normal): L2 switching with access and trunk ports."""
        if packet.get(IN_PORT, in_port.ofport) != in_port.ofport:
            self.drop(bridge, packet, table, "normal: in_port set to another port")
            return []   # not modelled: no flow of ours does it (OVS would switch from there)
        in_tag = bridge.tags.get(in_port.name)
        if in_tag is not None and is_tagged(packet):
            # input_vid_is_valid: an access port accepts no tagged frame
            self.drop(bridge, packet, table, "normal: tagged frame on an access port")
            return []
        if in_tag is not None:
            vid = in_tag
        else:
            vid = packet["vlan_vid"] & 0xFFF if is_tagged(packet) else 0
        if vid == DEAD_VLAN:
            self.drop(bridge, packet, table, "normal: dead VLAN")
            return []

        def allowed(port: PortInfo) -> bool:   # in the VLAN: trunks, and its access ports
            return port.ofport != in_port.ofport and bridge.tags.get(port.name) in (None, vid)

        eth_dst = str(packet.get("eth_dst", BROADCAST)).lower()
        known = None if _is_multicast(eth_dst) else bridge.fdb.get((vid, eth_dst))
        if known is not None:
            if known == in_port.ofport:   # OVS: "learned port is input port, dropping"
                self.drop(bridge, packet, table, "normal: learned on the in_port")
                return []
            target = bridge.port(known)
            if target is None or not allowed(target):
                self.drop(bridge, packet, table, "normal: learned port not in the VLAN")
                return []
            ports = [target]
        else:
            ports = sorted((p for p in bridge.ports if allowed(p)), key=lambda p: p.ofport)
            if not ports:
                self.drop(bridge, packet, table, "normal: no port to flood to")
        frames = []
        for port in ports:
            frame = dict(packet)
            if bridge.tags.get(port.name) is not None or vid == 0:
                if is_tagged(frame):   # access ports, and VLAN 0 on trunks: untagged
                    _pop_vlan(frame)
            else:   # trunks carry the VLAN tagged (a frame from an access port gets it)
                frame["vlan_vid"] = vid | OFPVID_PRESENT
            frames.append((port, frame))
        return frames

    def leave(self, bridge: SimBridge, port: PortInfo, packet: Packet) -> None:
        """The packet goes out of ``port``: into the next bridge, or out of the fabric."""
        if port.kind == "patch":
            peer = self.fabric.port_owner(bridge.chassis, port.peer or "")
            if peer is None:   # a patch port without its peer is down
                self.outcome("dropped", bridge, port, packet, reason="patch peer missing")
            else:
                self.enter(*peer, packet)
        elif port.kind == "tunnel":
            # the tunnel carries the Ethernet frame as it is (a tag stays in the inner
            # frame) and the key as tunnel_id (0 when none was set)
            end = self.fabric.tunnel_end(bridge.chassis, port)
            if end is None:
                self.outcome("tunnel to nowhere", bridge, port, packet)
            else:
                self.enter(*end, {**packet, "tunnel_id": packet.get("tunnel_id", 0)},
                           via_tunnel=True)
        elif port.kind == "other" and bridge.physnet is not None:
            self.outcome("physical", bridge, port, packet)
            for other in self.fabric.bridges:
                if other.physnet == bridge.physnet and other.chassis != bridge.chassis:
                    uplink = other.uplink()
                    if uplink is not None:
                        self.enter(other, uplink, packet)
        else:   # a VM's port, or another device of the bridge (internal port, NIC)
            self.outcome("delivered", bridge, port, packet)


def _set_field(packet: Packet, name: str, value: Any, step: Step) -> None:
    # OVS skips a set_field whose prerequisites the packet does not meet: vlan_vid on an
    # untagged frame, arp_* on IP, ... (mf_are_prereqs_ok); metadata is always writable.
    if name == SETTABLE_IN_PORT:   # the port the rest of the pipeline sees it came in by
        packet[IN_PORT] = value
        return
    if name == IN_PORT:   # OVS refuses such a flow (OFPBAC_BAD_SET_ARGUMENT)
        raise ValueError("set_field of the OXM in_port: only in_port_nxm may be written")
    if name == "vlan_vid":
        if not is_tagged(packet):
            step.notes.append("set_field vlan_vid ignored: untagged")
            return
        value |= OFPVID_PRESENT
    elif not _is_metadata(name) and name not in packet:
        step.notes.append(f"set_field {name} ignored: no such header")
        return
    packet[name] = value


def _move(packet: Packet, source: str, destination: str, step: Step) -> None:
    """A whole-field register move (NXAST_REG_MOVE); an unset register reads 0."""
    if (source not in packet and not _is_metadata(source)) or (
            destination not in packet and not _is_metadata(destination)):
        step.notes.append(f"move {source} -> {destination} ignored: no such header")
        return
    packet[destination] = packet.get(source, 0)


def _conntrack(packet: Packet, action: tuple, step: Step) -> tuple[int, Packet] | None:
    """("ct", commit, zone, table, nat): NAT the packet (the datapath rewrites it in place,
    before any fork), then fork as ovs-actions(7) says: with a table, a copy tracked in
    the zone recirculates there (returned with its table); the packet itself goes on
    with the flow's actions untracked."""
    _, commit, zone, table, nat = action
    if nat is not None:
        _nat(packet, nat, step)
    recirculated = None
    if table is not None:
        state, later = _next_state(packet.get(CT_STATE_AFTER, CT_TRK | CT_EST))
        copy = {**packet, "ct_zone": zone, "ct_state": state}
        if later is not None:
            copy[CT_STATE_AFTER] = later
        mark = packet.get(CT_MARK_AFTER, copy.pop("ct_mark", 0))
        if mark:   # absent reads 0
            copy["ct_mark"] = mark
        recirculated = (table, copy)
        step.notes.append(f"ct zone {zone}{' commit' if commit else ''}: to table {table}"
                          f" with ct_state {state:#04x}"
                          + (f" ct_mark {mark:#x}" if mark else ""))
    else:
        step.notes.append(f"ct zone {zone}{' commit' if commit else ''}")
    _untrack(packet)
    return recirculated


def _next_state(after: int | tuple[int, ...]) -> tuple[int, tuple[int, ...] | None]:
    """The ct_state this recirculation comes back with, and what the next ones get: one
    state for all, or a sequence (the last one repeating), such as the new request a
    port's egress commits and then its reply, which its ingress sees."""
    if isinstance(after, int):
        return after, None
    return after[0], after[1:] or after


def _commit_mark(packet: Packet, action: tuple, step: Step) -> None:
    """("ct_mark", zone, mark): commit the connection with this mark (the firewall's kill
    of a connection whose rule went).  Stateless: only noted; no recirculation, and the
    packet goes on untracked as after any ct (checked with ofproto/trace on OVS 3.1)."""
    _, zone, mark = action
    step.notes.append(f"ct zone {zone} commit: ct_mark {mark:#x}")
    _untrack(packet)


def _nat(packet: Packet, nat: tuple, step: Step) -> None:
    """SNAT/DNAT to one address; ports stay (a random source port is not modelled)."""
    kind, address, _ = nat
    if not kind:   # undoes the connection's NAT: stateless, the packet says what it was
        restored = packet.get(CT_NAT_AFTER, ())
        packet.update(restored)
        step.notes.append(f"nat: the connection's {dict(restored) or 'none'}")
        return
    name = "ipv4_src" if kind == "src" else "ipv4_dst"
    if name not in packet:   # OVS installs ct(nat) only on IP flows (check_NAT)
        step.notes.append(f"nat {kind} ignored: not IPv4")
        return
    packet[name] = address


def _untrack(packet: Packet) -> None:
    """No conntrack state: ct_state, ct_zone and ct_mark 0 (absent reads 0)."""
    for name in CONNTRACK:
        packet.pop(name, None)
