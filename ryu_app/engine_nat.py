"""The engine's north-south part (no Ryu, no I/O): which routers and floating IPs a
model write touches, their conntrack zones, their br-int groups on every hypervisor, and
what goes with those flows on the wire: gratuitous ARPs when a hypervisor starts to
answer for an address, a conntrack flush when a floating IP leaves a hypervisor, ARP
requests for the upstream gateways, and the floating IPs' status."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Hashable, Iterable

from ryu_app.model.nat_zones import NatZones
from ryu_app.model.neighbours import Neighbours
from ryu_app.model.passed_over import PassedOverGateways
from ryu_app.model.north_south import FIP_GATEWAY_OWNER, GATEWAY_OWNER, SNAT_OWNER
from ryu_app.model.security_groups import is_trusted
from ryu_app.model.tenant import Change
from ryu_app.pipeline.flow import Flow
from ryu_app.pipeline.planner import floatingip_group, router_group
from topology.graph import Bridge

if TYPE_CHECKING:
    from ryu_app.engine import Engine, EngineOutputs, _Dirty

ASK_UNKNOWN_EVERY = 2.0     # seconds between ARP requests for an unresolved gateway
ASK_KNOWN_EVERY = 30.0      # ... and for a resolved one (Faucet's arp_neighbor_timeout)
STATUS_FIELDS = ("status", "updated_at", "revision_number")
# Gratuitous ARPs for external addresses go again at the next ticks, as Neutron's agents
# send three (send_arp_for_ha): the first may leave before br-ex has the flow for it.
ANNOUNCE_AGAIN = 2
# A floating IP's zone flushes go again at the next ticks too, so that one goes at least a
# tick (2 s) after the flows that stopped committing into it (repeat_flushes).
FLUSH_AGAIN = 2


class NorthSouthEngine:
    def __init__(self, engine: "Engine", zones: NatZones, neighbours: Neighbours,
                 passed_over: PassedOverGateways, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.model = engine.model
        self.planner = engine.planner
        self.nat = engine.planner.nat
        self.zones = zones
        self.neighbours = neighbours
        self.passed_over = passed_over
        self.clock = clock
        self._asked: dict[tuple[int, str, str], float] = {}     # (dpid, net, ip) -> when
        # (dpid, router or floating IP) -> the zone it holds there and what it NATs to
        self._zone_held: dict[tuple[int, str], tuple[int, Hashable]] = {}
        self._again: dict[tuple, int] = {}                      # announcement -> repeats
        self._flush_again: dict[tuple[int, int, str], int] = {}  # (dpid, zone, owner) -> ticks

    # --------------------------------------------------------------- changes

    def sync_zones(self) -> None:
        """A zone for every router with a gateway and every floating IP, none for others."""
        owners = self.nat.gateway_routers() + list(self.model.records["floatingip"])
        self.zones.keep_only(owners)
        for owner in owners:
            self.zones.ensure(owner)

    def changed(self, change: Change, dirty: "_Dirty") -> None:
        """One model write: the routers and floating IPs it touches, their zones."""
        kind, old, new = change
        if kind == "router":
            self._router_changed(old, new, dirty)
        elif kind == "floatingip":
            self._floatingip_changed(old, new, dirty)
        elif kind == "port":
            for port in (old, new):
                if port is not None:
                    self._port_changed(port, dirty)

    def snat_may_move(self, dirty: "_Dirty") -> None:
        """A hypervisor (re)registered or was retired: every router's SNAT host may
        change, and with it what hosts their networks."""
        for router_id in self.nat.gateway_routers():
            self._router_changed(None, self.model.records["router"][router_id], dirty)

    def gateways_checked(self, dirty: "_Dirty") -> bool:
        """Time passed: a gateway hypervisor down too long passes its routers' SNAT on,
        one alive long enough again takes them back (ryu_app/gateway_failover.py); the
        routers that move, and their networks, are dirty.  True when one moves."""
        failover = self.nat.failover
        if failover.down_time is None:
            return False
        previous, state, timings = (failover.passed_over, failover.ranking_state(),
                                    failover.timings())
        # placement also follows whether each passed over is back and since when the
        # others are down (a router whose candidates are all passed over goes to one
        # back, else to the latest down), which observing moves even when who is passed
        # over does not change; placement is compared only when either does
        passed_over = failover.observe(self.clock(), {
            name: self.engine.topology.alive(name) for name in self.nat.gateway_hypervisors()})
        if passed_over == previous and failover.ranking_state() == state:
            return False
        observed = failover.timings()
        failover.restore(timings)
        before = self._snat_hosts()
        failover.restore(observed)
        failover.take(passed_over)
        try:
            moved = [router_id for router_id, host in self._snat_hosts().items()
                     if before.get(router_id) != host]
            for router_id in moved:
                self._router_changed(None, self.model.records["router"][router_id], dirty)
        except Exception:
            failover.passed_over = previous   # the next tick tries again
            raise
        if passed_over != previous:
            self.passed_over.keep(passed_over)
        return bool(moved)

    def _snat_hosts(self) -> dict[str, str | None]:
        return {router_id: self.nat.snat_chassis(router_id)
                for router_id in self.nat.gateway_routers()}

    def _router_changed(self, old: dict | None, new: dict | None, dirty: "_Dirty") -> None:
        router_id = (old or new)["id"]
        if new is not None and new["external_gateway_info"] is not None:
            self.zones.ensure(router_id)
        else:
            self.zones.release(router_id)
        dirty.routers.add(router_id)
        for record in (old, new):
            info = record["external_gateway_info"] if record else None
            if info is not None:
                dirty.networks.add(info["network_id"])
        # all its interfaces, routed or not: set down, it stops routing those it had
        dirty.networks |= {self.model.records["port"][port_id]["network_id"]
                           for port_id in self.model.interfaces_of.get(router_id, ())}

    def _floatingip_changed(self, old: dict | None, new: dict | None, dirty: "_Dirty") -> None:
        if old and new and all(old[k] == new[k] for k in old if k not in STATUS_FIELDS):
            return   # only its status, which follows the flows
        fip_id = (old or new)["id"]
        if new is None:
            self.zones.release(fip_id)
        else:
            self.zones.ensure(fip_id)
        dirty.fips.add(fip_id)

    def _port_changed(self, port: dict, dirty: "_Dirty") -> None:
        owner = port["device_owner"]
        if owner in (GATEWAY_OWNER, SNAT_OWNER):
            dirty.routers.add(port["device_id"])
        elif owner == FIP_GATEWAY_OWNER:
            dirty.networks.add(port["network_id"])
            dirty.fips |= self._fips_on(port["network_id"])
        elif not is_trusted(port):   # a VM's port: its floating IPs, routes
            dirty.fips |= set(self.model.fips_of_port.get(port["id"], ()))
            dirty.routers |= {router_id for router_id in self.planner.routers_on(
                port["network_id"]) if self.nat.gateway_network(router_id) is not None}

    def _fips_on(self, network_id: str) -> set[str]:
        return {fip["id"] for fip in self.model.records["floatingip"].values()
                if fip["floating_network_id"] == network_id}

    def networks_changed(self, networks: Iterable[str], dirty: "_Dirty") -> None:
        """Networks recomputed (their local VLANs may have moved): the routers and
        floating IPs whose flows name them."""
        networks = set(networks)
        for router_id in self.nat.gateway_routers():
            interfaces = {port["network_id"] for port in self.planner.dvr_interfaces(router_id)}
            if self.nat.gateway_network(router_id)["id"] in networks or interfaces & networks:
                dirty.routers.add(router_id)
        for fip in self.model.records["floatingip"].values():
            port = self.model.records["port"].get(fip["port_id"]) if fip["port_id"] else None
            if fip["floating_network_id"] in networks or (port and port["network_id"] in networks):
                dirty.fips.add(fip["id"])

    def everything(self, dirty: "_Dirty") -> None:
        dirty.routers |= set(self.model.records["router"])
        dirty.fips |= set(self.model.records["floatingip"])

    # ----------------------------------------------------------- recompute

    def recompute(self, dirty: "_Dirty", outputs: "EngineOutputs") -> None:
        bridges = self._integration_bridges()
        for router_id in sorted(dirty.routers):
            for bridge in bridges:
                flows = self.planner.nat.router_flows(bridge, router_id)
                announced = self.nat.router_announcement(bridge, router_id) if flows else None
                self._apply(bridge, router_group(router_id), flows, announced, outputs)
                self._follow_zone(bridge.dpid, router_id, _snats(flows), outputs)
        for fip_id in sorted(dirty.fips):
            served, serving = False, set()
            for bridge in bridges:
                flows = self.nat.fip_flows(bridge, fip_id)
                # served here, or only reached from here (another's on-link flow)
                here = any(flow.builder == "nat.floating_in_flow" for flow in flows)
                announced = self.nat.fip_announcement(bridge, fip_id) if here else None
                self._apply(bridge, floatingip_group(fip_id), flows, announced, outputs)
                self._follow_zone(bridge.dpid, fip_id, here, outputs)
                served |= any(flow.builder == "nat.floating_out_flow" for flow in flows)
                if here:   # and its provider bridges: the way out may be new in the batch
                    serving |= {b.dpid for b in self.engine.topology.bridges_of(bridge.chassis)}
            if fip_id in self.model.records["floatingip"]:
                outputs.fip_status[fip_id] = "ACTIVE" if served else "DOWN"
                if served:
                    outputs.fip_bridges[fip_id] = frozenset(serving)

    def _integration_bridges(self):
        return [bridge for dpid in sorted(self.engine.bridges)
                if (bridge := self.engine.topology.bridges[dpid]).role == "int"]

    def _apply(self, bridge, group, flows, announced, outputs: "EngineOutputs") -> None:
        state = self.engine.bridges[bridge.dpid]
        before = list(state.groups.get(group, {}).values())
        self.engine.apply(bridge, group, flows, outputs)
        if announced is not None and set(before) != set(flows):
            self._announce((bridge.dpid, *announced), outputs)

    def _announce(self, announcement: tuple, outputs: "EngineOutputs") -> None:
        outputs.announcements.append(announcement)
        self._again[announcement] = ANNOUNCE_AGAIN

    def repeat_announcements(self, outputs: "EngineOutputs") -> None:
        """The gratuitous ARPs still due again (a tick)."""
        for announcement, left in list(self._again.items()):
            if announcement[0] in self.engine.bridges:
                outputs.announcements.append(announcement)
            if left > 1:
                self._again[announcement] = left - 1
            else:
                del self._again[announcement]

    def _follow_zone(self, dpid: int, owner: str, served: bool,
                     outputs: "EngineOutputs") -> None:
        """A floating IP or a router's SNAT that leaves a hypervisor, changes zone or
        NATs to another address there takes its connections with it: the zone it used
        there is flushed (its entries would still NAT a connection's packets to the old
        address, and a router's zone may be given to another tenant's router next)."""
        held = self._zone_held.get((dpid, owner))
        now = self._zone_and_target(owner) if served else None
        if held is not None and held != now:
            outputs.ct_flushes.append((dpid, held[0]))
            self._flush_again[(dpid, held[0], owner)] = FLUSH_AGAIN
        if now is None:
            self._zone_held.pop((dpid, owner), None)
        else:
            self._zone_held[(dpid, owner)] = now

    def repeat_flushes(self, outputs: "EngineOutputs") -> None:
        """The zones floating IPs and routers left flushed again (a tick).  A switch's
        datapath keeps the megaflows of deleted flows until its revalidators run, and a
        packet of a connection that takes one in that window commits its entry again
        after the first flush (seen in make test).  A zone its owner holds there again,
        or that is no longer its (deleted: the zone may be another owner's now), is left
        alone, and so are its connections."""
        for key, left in sorted(self._flush_again.items()):
            dpid, zone, owner = key
            held = self._zone_held.get((dpid, owner))
            if self.zones.get(owner) != zone or (held is not None and held[0] == zone):
                del self._flush_again[key]
                continue
            if dpid in self.engine.bridges:
                outputs.ct_flushes.append((dpid, zone))
            if left > 1:
                self._flush_again[key] = left - 1
            else:
                del self._flush_again[key]

    def _zone_and_target(self, owner: str) -> tuple[int, Hashable]:
        """A NAT zone's owner's zone and what it NATs to: a floating IP's fixed address,
        a router's gateway addresses."""
        fip = self.model.records["floatingip"].get(owner)
        if fip is not None:
            return self.zones.get(owner), fip["fixed_ip_address"]
        gateway = self.model.gateway_port_of(owner)
        return self.zones.get(owner), tuple(
            ip["ip_address"] for ip in gateway["fixed_ips"]) if gateway else ()

    def connected(self, dpid: int, outputs: "EngineOutputs") -> None:
        """A bridge connected with everything: it announces what it answers for, and the
        NAT zones its owners left or changed while it was away are flushed (an owner's
        zone may have gone to another owner meanwhile, which starts clean)."""
        bridge = self.engine.topology.bridges[dpid]
        if bridge.role != "int":
            return
        held = {owner: zone for (where, owner), zone in self._zone_held.items() if where == dpid}
        for router_id in self.nat.gateway_routers():
            flows = self.nat.router_flows(bridge, router_id)
            announced = self.nat.router_announcement(bridge, router_id)
            if announced and flows:
                self._announce((dpid, *announced), outputs)
            self._follow_zone(dpid, router_id, _snats(flows), outputs)
            held.pop(router_id, None)
        for fip in self.nat.served_floatingips():
            if (announced := self.nat.fip_announcement(bridge, fip["id"])) is not None:
                self._announce((dpid, *announced), outputs)
                self._follow_zone(dpid, fip["id"], True, outputs)
                held.pop(fip["id"], None)
                # it went DOWN if it was recomputed while this bridge was away
                outputs.fip_status[fip["id"]] = "ACTIVE"
                outputs.fip_bridges[fip["id"]] = frozenset(
                    b.dpid for b in self.engine.topology.bridges_of(bridge.chassis))
        for owner in held:   # gone, or no longer served here
            self._follow_zone(dpid, owner, False, outputs)

    # ------------------------------------------------------------ neighbours

    def neighbour_requests(self, outputs: "EngineOutputs") -> None:
        """ARP requests for the upstream gateways: now for an unresolved one (every
        ASK_UNKNOWN_EVERY), again every ASK_KNOWN_EVERY for a resolved one."""
        now = self.clock()
        for bridge in self._integration_bridges():
            for network_id, target, our_ip, our_mac, ofport, vid in \
                    self.nat.neighbours_wanted(bridge):
                key = (bridge.dpid, network_id, target)
                every = ASK_KNOWN_EVERY if self.neighbours.get(network_id, target) \
                    else ASK_UNKNOWN_EVERY
                if now - self._asked.get(key, float("-inf")) >= every:
                    self._asked[key] = now
                    outputs.arp_requests.append((bridge.dpid, ofport, our_mac, our_ip,
                                                 target, vid))

    def neighbour_seen(self, dpid: int, in_port: int, vid: int | None, ip: str, mac: str,
                       dirty: "_Dirty") -> bool:
        """An ARP answer from an external network on this bridge: an upstream gateway's
        MAC, if it is one this bridge asks for on the network the answer came in from
        (its patch and its VLAN on the wire: two external networks may have one gateway
        address); True when it is news."""
        bridge = self.engine.topology.bridges.get(dpid)
        if bridge is None or bridge.role != "int":
            return False
        news = False
        for network_id, target, *_ in self.nat.neighbours_wanted(bridge):
            if target == ip and self._came_from(bridge, network_id, in_port, vid) and \
                    self.neighbours.learn(network_id, ip, mac):
                news = True
                self.networks_changed({network_id}, dirty)
        return news

    def _came_from(self, bridge: Bridge, network_id: str, in_port: int, vid: int | None) -> bool:
        """Whether a frame that came in by ``in_port`` in the wire's VLAN ``vid`` is the
        external network's."""
        external = self.nat.external(bridge, network_id)
        return external is not None and (external.int_ex, external.segmentation_id) == (
            in_port, vid)


def _snats(flows: Iterable[Flow]) -> bool:
    """Whether a router's flows on a bridge use its zone there: its SNAT's return, there
    as soon as it has a zone (its way out waits for the upstream's MAC)."""
    return any(flow.builder == "nat.snat_return_flow" for flow in flows)
