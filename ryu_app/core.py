"""The controller without Ryu, shaped like Faucet's ``Valve``: plain events in, plain
``Outputs`` out.

The shim (``ryu_app/app.py``) decodes what arrives on its sockets into calls of this
class and sends what comes back; every decision is here, where a test can drive it:
which hypervisor an OVSDB session speaks for (and which of two sessions claiming one
system-id wins), what a hypervisor's database must gain (bridges, patches, tunnels,
port tags) and when, what a bridge gets when it connects and what it holds that is
stale, which packet-ins are answered and how.

Events that change what flows should be (a database seen, model writes) only mark the
engine dirty; ``flush`` recomputes once for all of them.  The shim calls it once the
events queued before it are handled, so a burst is one batch.
"""
from __future__ import annotations

import functools

import itertools
import logging
import socket
from dataclasses import dataclass, field

from ryu_app import router_packets
from ryu_app.dhcp import leases, server, wire
from ryu_app.engine import Engine, EngineOutputs
from ryu_app.gateway_failover import GatewayFailover
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.hypervisors import Hypervisors
from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.nat_zones import NatZones
from ryu_app.model.neighbours import Neighbours
from ryu_app.model.passed_over import PassedOverGateways
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store
from ryu_app.model.tenant import Change, NetworkModel
from ryu_app.outputs import (CtFlushAddress, CtFlushZone, FlowDelete, FlowStatsRequest,
                             ForgetLearnedVlan, Outputs, PacketInsToController, PacketOut)
from ryu_app.ovsdb import hypervisor, provisioning
from ryu_app.ovsdb.protocol import SESSION_CLOSED, Replica
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.planner import Planner
from ryu_app.settings import Settings
from topology.chassis import ChassisSpec
from topology.graph import Bridge, Topology
from topology.naming import PortInfo

LOG = logging.getLogger(__name__)
TAG_RETRIES = 3


@dataclass(frozen=True)
class SessionInfo:
    """An OVSDB session as the core knows it: an id the shim chose, and its two ends."""

    id: int
    peer: str              # the hypervisor's address
    local_address: str     # ours, as the hypervisor reached it


@dataclass
class _Hypervisor:
    session: SessionInfo
    replica: Replica
    provisioner: provisioning.Provisioner = field(default_factory=provisioning.Provisioner)
    tag_failures: int = 0      # tags transactions refused in a row


@dataclass
class Seen:
    """What one look at a hypervisor's database found, for the batch's record."""

    chassis: str | None = None
    ports_added: list[str] = field(default_factory=list)
    ports_removed: list[str] = field(default_factory=list)


class Core:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self.dhcp = leases.DhcpConfig(settings.dhcp_lease_duration, settings.dns_domain)
        self.topology = engine.topology
        self.planner = engine.planner
        self._hypervisors: dict[str, _Hypervisor] = {}    # chassis -> its live session
        # chassis -> conntrack zones, and (zone, IP) of departed addresses, to flush when
        # its br-int is next connected
        self._unflushed: dict[str, set[int]] = {}
        self._unflushed_addresses: dict[str, set[tuple[int, str]]] = {}
        # floating IP -> the issue of its latest status: one written late (an ACTIVE
        # waiting for its bridges) never overwrites a later one
        self._fip_issued: dict[str, int] = {}
        self._issues = itertools.count(1)
        self._chassis_of: dict[int, str] = {}              # session id -> chassis
        self._refused: dict[int, str] = {}                 # why a session registers nothing
        self._readers: dict[int, hypervisor.DatabaseReader] = {}   # per session id
        self._openflow: set[int] = set()                   # datapath ids with OpenFlow up

    # ------------------------------------------------------------------ OVSDB

    def ovsdb_seen(self, session: SessionInfo, replica: Replica,
                   first: bool) -> tuple[Outputs, Seen]:
        """A session's database, first or changed: which hypervisor it is, what its
        bridges and ports are now.  A second session for one hypervisor replaces the
        first (which is closed).  Flows follow at the next flush."""
        outputs = Outputs()
        reader = self._readers.get(session.id)
        if reader is None or reader.replica is not replica:
            reader = self._readers[session.id] = hypervisor.DatabaseReader(replica)
        try:
            spec = reader.chassis()
        except ValueError as error:
            if self._refused.get(session.id) != str(error):
                LOG.warning("hypervisor at %s is not registered: %s", session.peer, error)
                self._refused[session.id] = str(error)
            self._unbind(session.id)
            reader.reread()
            return outputs, Seen()
        self._refused.pop(session.id, None)
        if self._chassis_of.get(session.id) != spec.name:
            self._adopt(session, replica, spec, outputs)
            first = True
        changes = self.engine.database_seen(spec, reader.bridges(), full=first)
        self._connect_waiting_bridges(outputs)
        return outputs, Seen(spec.name, [port.name for _, port in changes.ports_added],
                             [port.name for _, port in changes.ports_removed])

    def _adopt(self, session: SessionInfo, replica: Replica, spec: ChassisSpec,
               outputs: Outputs) -> None:
        chassis = spec.name
        self._unbind(session.id)
        previous = self._hypervisors.get(chassis)
        if previous is not None:   # the hypervisor reconnected before we saw it leave
            if previous.session.peer != session.peer:
                LOG.warning("hypervisor %s now connects from %s, was %s: two hosts with one "
                            "system-id?", chassis, session.peer, previous.session.peer)
            self.ovsdb_closed(previous.session.id)
            outputs.close.add(previous.session.id)
        self._hypervisors[chassis] = _Hypervisor(session, replica)
        self._chassis_of[session.id] = chassis
        LOG.info("hypervisor %s (tunnel IP %s) connected from %s", chassis, spec.tunnel_ip,
                 session.peer)

    def ovsdb_replied(self, session_id: int, key, error: str | None) -> Outputs:
        """A transaction was answered: its object may be planned again (a failed plan
        when the database next changes; failed tags at once, TAG_RETRIES times)."""
        outputs = Outputs()
        chassis = self._chassis_of.get(session_id)
        if chassis is None:
            return outputs
        held = self._hypervisors[chassis]
        held.provisioner.settled(key)
        if error is not None:
            LOG.warning("hypervisor %s refused %s: %s", chassis, key, error)
        if key[0] != "tags":
            if error is None:
                self._provision(chassis, outputs)
            return outputs
        # Those waiting go now, with the answered ones again where they moved on meanwhile
        # or their write failed (a few times: a port without its tag passes every VLAN).
        held.tag_failures = 0 if error is None else held.tag_failures + 1
        again = error is None or (error != SESSION_CLOSED and held.tag_failures <= TAG_RETRIES)
        if not again:   # given up: the database's next change that shows them tries again
            self.engine.tags_refused(chassis, key[1])
        self._retag(chassis, self.engine.tags(chassis, key[1]) if again else {}, outputs)
        return outputs

    def ovsdb_closed(self, session_id: int) -> None:
        """The session is over (or replaced); its hypervisor is not alive until it is back;
        what its switches hold stays as it was."""
        self._refused.pop(session_id, None)
        self._readers.pop(session_id, None)
        self._unbind(session_id)

    def _unbind(self, session_id: int) -> None:
        """The session no longer speaks for the hypervisor it spoke for, if any."""
        chassis = self._chassis_of.pop(session_id, None)
        if chassis is not None and self._hypervisors[chassis].session.id == session_id:
            del self._hypervisors[chassis]
            self.engine.session_lost(chassis)
            LOG.info("hypervisor %s: OVSDB session closed", chassis)

    def _provision(self, chassis: str, outputs: Outputs) -> None:
        """What the hypervisor's database still lacks (bridges, patches, tunnels), one
        transaction per object, none for an object whose change is under way."""
        held = self._hypervisors.get(chassis)
        if held is None:
            return
        openflow = provisioning.controller_target(
            held.session.local_address, self.settings.openflow_port,
            tls=bool(self.settings.tls))
        target = self.engine.target(chassis, openflow, self.settings.datapath_type)
        structure = self.topology.structure.get(chassis, 0)
        for transaction in held.provisioner.due(held.replica, target, structure):
            outputs.transact(held.session.id, transaction)

    def _forget_vlan(self, chassis: str, lvid: int, outputs: Outputs) -> None:
        """A local VLAN freed on the chassis, once the batch's flows no longer use it for
        the network that left (they may give it to another): br-tun forgets the MACs it
        learned in it, which would send the next network's unicast into the old
        network's tunnels for up to 300 s, and br-int the connections of its zone, which
        would pass as the next network's replies."""
        tunnel = self.topology.bridge(chassis, "tun")
        state = self.engine.bridges.get(tunnel.dpid) if tunnel else None
        if state is not None:   # else its next connection sweeps what it learned
            outputs.send_after_flows(tunnel.dpid, ForgetLearnedVlan(
                T.TUN_UCAST_TO_TUN, lvid, state.cookie))
        self._flush_zone(chassis, lvid, outputs, after_flows=True)

    def _flush_zone(self, chassis: str, zone: int, outputs: Outputs,
                    after_flows: bool = False) -> None:
        """A network zone of br-int flushed (before the flows that give it to a network,
        after those that take it from one), or when br-int is next connected, if it is
        not now: it may have been given on meanwhile."""
        integration = self.topology.bridge(chassis, "int")
        if integration is None or integration.dpid not in self.engine.bridges:
            self._unflushed.setdefault(chassis, set()).add(zone)
        elif after_flows:
            outputs.send_after_flows(integration.dpid, CtFlushZone(zone))
        else:
            outputs.send(integration.dpid, CtFlushZone(zone))

    def _flush_address(self, chassis: str, zone: int, address: str, outputs: Outputs) -> None:
        """A departed address's connections in a zone of br-int flushed after the flows
        that took it away, or when br-int is next connected, if it is not now (its
        conntrack outlives the OpenFlow session): the address may be given on meanwhile."""
        integration = self.topology.bridge(chassis, "int")
        if integration is None or integration.dpid not in self.engine.bridges:
            self._unflushed_addresses.setdefault(chassis, set()).add((zone, address))
        else:
            outputs.send_after_flows(integration.dpid, CtFlushAddress(zone, address))

    def _retag(self, chassis: str, tags: dict[str, int], outputs: Outputs) -> None:
        """Port.tag on the VM's own hypervisor, one transaction, only where it differs;
        a hypervisor that is away is retagged whole when it is back."""
        held = self._hypervisors.get(chassis)
        if held is not None:
            transaction = held.provisioner.retag(held.replica, tags)
            if transaction is not None:
                outputs.transact(held.session.id, transaction)

    # --------------------------------------------------------------- OpenFlow

    def datapath_up(self, dpid: int) -> Outputs:
        outputs = Outputs()
        self._openflow.add(dpid)
        self._connect(dpid, outputs)
        return outputs

    def datapath_down(self, dpid: int) -> None:
        self._openflow.discard(dpid)
        self.engine.bridge_gone(dpid)

    def _connect_waiting_bridges(self, outputs: Outputs) -> None:
        """OpenFlow connections that arrived before their hypervisor's database named them."""
        for dpid in sorted(self._openflow - self.topology.connected):
            self._connect(dpid, outputs)

    def _connect(self, dpid: int, outputs: Outputs) -> None:
        """Everything the bridge should hold, under a fresh cookie, then a flow dump to
        sweep what carries another; integration bridges also send expired-TTL frames."""
        bridge = self.topology.bridges.get(dpid)
        if bridge is None:
            LOG.info("datapath %016x: no hypervisor's database names it (yet)", dpid)
            return
        LOG.info("hypervisor %s: %s bridge %s connected (%016x)", bridge.chassis,
                 bridge.role, bridge.name, dpid)
        if bridge.role == "int":   # what went while it was away, before its flows
            zones = self._unflushed.pop(bridge.chassis, set())
            addresses = self._unflushed_addresses.pop(bridge.chassis, set())
            outputs.send(dpid, PacketInsToController(self.settings.packet_in_rate_limit),
                         *(CtFlushZone(zone) for zone in sorted(zones)),
                         *(CtFlushAddress(zone, address) for zone, address in sorted(addresses)
                           if zone not in zones))
        self._take(self.engine.bridge_connected(dpid), outputs)
        # after the flows: a br-int's dump then holds our canary, and an empty one means
        # the flows were lost (not that none was sent yet)
        outputs.send_after_flows(dpid, FlowStatsRequest())

    def flow_stats(self, dpid: int, entries: list[tuple[int, int, object, int]]) -> Outputs:
        """(table, priority, match, cookie) of the flows of one part of a dump of the
        bridge (a whole dump comes in parts) or of its canary table: strict deletes of
        those from an earlier connection.  A reply for the canary table alone without our
        canary means the bridge lost our flows (ovs-ofctl del-flows, a restart that kept
        the connection): it is programmed afresh, as on a connection."""
        outputs = Outputs()
        state = self.engine.bridges.get(dpid)
        bridge = self.topology.bridges.get(dpid)
        canary_reply = all(table == T.CANARY for table, _, _, _ in entries)
        if state is not None and bridge is not None and canary_reply and \
                not any(cookie == state.cookie for *_, cookie in entries):
            LOG.warning("hypervisor %s: %s lost its flows (no canary); programming it "
                        "afresh", bridge.chassis, bridge.name)
            self._connect(dpid, outputs)
            return outputs
        if state is not None:
            stale = [FlowDelete(*entry) for entry in entries if state.is_stale(entry[3])]
            if stale:
                outputs.send(dpid, *stale)
                LOG.info("datapath %016x: removing %d stale flows", dpid, len(stale))
        return outputs

    def packet_in(self, dpid: int, reason: str, in_port: int, data: bytes) -> Outputs:
        """A routed frame whose TTL ran out (reason ``invalid_ttl``) gets ICMP time
        exceeded from its gateway, to the port it came in by through that port's ingress
        filter; a DHCP request a flow sent up (``action``) its answer, out of the port it
        came in by; an upstream gateway's ARP answer (``action``) its MAC noted, and the
        flows that send to it follow."""
        outputs = Outputs()
        if reason == "invalid_ttl":
            reply = router_packets.time_exceeded_reply(data, self.planner.gateway_ip)
            through = self._injection(dpid, in_port)
        elif reason == "action" and (sender := router_packets.arp_sender(data)):
            if self.engine.neighbour_seen(dpid, in_port, router_packets.vlan_of(data),
                                          *sender):
                self._take(self.engine.flush(), outputs)
            reply, through = None, ()
        elif reason == "action":
            reply, through = self._dhcp_reply(dpid, in_port, data), ()
        else:
            reply, through = None, ()
        if reply is not None:
            outputs.send_after_flows(dpid, PacketOut(in_port, reply, through))
        return outputs

    def _injection(self, dpid: int, ofport: int) -> tuple:
        """How the router's answer reaches the VM port behind ``ofport``: through its
        ingress filter when it has one (``PacketOut.through``), else straight out."""
        found = self._device_at(dpid, ofport)
        if found is None:
            return ()
        bridge, device = found
        return self.planner.security.injection(bridge,
                                               self.planner.device_port(bridge.chassis, device))

    def _device_at(self, dpid: int, ofport: int) -> tuple[Bridge, PortInfo] | None:
        """The bridge and its device a packet-in came from, if both are known."""
        bridge = self.topology.bridges.get(dpid)
        device = self.topology.port_at(dpid, ofport)
        return None if bridge is None or device is None else (bridge, device)

    def _dhcp_reply(self, dpid: int, in_port: int, data: bytes) -> bytes | None:
        """The answer to a VM's DHCP request, from its port's lease: none for a frame
        that is no DHCP request, from a device that is no bound port, or for a MAC or a
        port that DHCP does not serve."""
        request = wire.parse(data)
        found = self._device_at(dpid, in_port)
        if request is None or found is None:
            return None
        bridge, device = found
        port = self.planner.device_port(bridge.chassis, device)
        lease = (leases.lease_for(self.engine.model, port, self.dhcp)
                 if port is not None and request.chaddr == port["mac_address"] else None)
        kind = server.TYPE_NAMES.get(request.message_type, request.message_type)
        if lease is None:
            LOG.info("DHCP %s from %s on %s (%s): not served", kind, request.chaddr,
                     bridge.chassis, device.name)
            return None
        decision = server.answer(request, lease)
        LOG.info("DHCP %s from port %s on %s: %s", kind, port["id"], bridge.chassis,
                 decision.outcome)
        return wire.pack(decision.reply) if decision.reply else None

    # ------------------------------------------------------------------ model

    def tick(self) -> Outputs:
        """Time passed (the shim calls this every few seconds): ARP requests for upstream
        gateways not resolved yet or due for a refresh, gratuitous ARPs due again, routers'
        SNAT moved off a gateway hypervisor down too long or back (``flush_due``), and each
        bridge asked for its canary, as Neutron's agent checks br-int's (it resets every
        bridge when that one is gone; a del-flows on br-tun or br-ethX it never sees)."""
        outputs = Outputs()
        self._take(self.engine.ticked(), outputs)
        for dpid in sorted(self.engine.bridges):   # is our canary still there?
            outputs.send(dpid, FlowStatsRequest(T.CANARY))
        return outputs

    def floatingip_status(self, statuses: dict[str, str], issues: dict[str, int]) -> None:
        """Floating IPs whose flows were confirmed (ACTIVE) or are gone (DOWN), as issued
        (``Outputs.fip_issue``); those issued again since are left to the later issue."""
        self.engine.model.set_floatingip_status({
            fip: status for fip, status in statuses.items()
            if self._fip_issued.get(fip) == issues.get(fip)})
        for fip in statuses:   # a deleted one is never issued again
            if fip not in self.engine.model.records["floatingip"]:
                self._fip_issued.pop(fip, None)

    def agents(self) -> list[dict]:
        """Each hypervisor's agent entry as the topology describes it, with its DVR MAC
        and the datapath type its bridges are made with (the controller's unless it
        names its own)."""
        return self.topology.agents(self.engine.dvr_macs.all(), self.settings.datapath_type)

    def model_changed(self, changes: list[Change]) -> None:
        """Writes the API made (the next flush recomputes what they touch)."""
        self.engine.model_changed(changes)

    # ------------------------------------------------------------------ flush

    def flush(self) -> Outputs:
        outputs = Outputs()
        self._take(self.engine.flush(), outputs)
        return outputs

    def _take(self, wiring: EngineOutputs, outputs: Outputs) -> None:
        """The engine's flow-mods, and what its tags, provisioning and announcements mean
        on the wire: OVSDB transactions and gratuitous ARPs after the flows."""
        for dpid, mods in wiring.flow_mods.items():
            outputs.add_flow_mods(dpid, mods)
        for dpid, ofport, ip, mac, vid in wiring.announcements:
            outputs.announce(dpid, PacketOut(ofport, router_packets.gratuitous_arp(ip, mac, vid)))
        for dpid, ofport, mac, ip, target, vid in wiring.arp_requests:
            outputs.send_after_flows(dpid, PacketOut(
                ofport, router_packets.arp_request(mac, ip, target, vid)))
        for dpid, zone in wiring.ct_flushes:
            outputs.send_after_flows(dpid, CtFlushZone(zone))
        for chassis, zone, address in wiring.ct_address_flushes:
            self._flush_address(chassis, zone, address, outputs)
        for chassis, lvid in wiring.given_vlans:
            self._flush_zone(chassis, lvid, outputs)
        for chassis, lvid in wiring.released_vlans:
            self._forget_vlan(chassis, lvid, outputs)
        outputs.fip_status.update(wiring.fip_status)
        outputs.fip_bridges.update(wiring.fip_bridges)
        for fip in wiring.fip_status:
            outputs.fip_issue[fip] = self._fip_issued[fip] = next(self._issues)
        for chassis, tags in wiring.tags.items():
            self._retag(chassis, tags, outputs)
        for chassis in sorted(wiring.provision):
            self._provision(chassis, outputs)
        outputs.recomputed += wiring.recomputed
        outputs.flush_due |= wiring.flush_due


def build(settings: Settings) -> Core:
    """The core on its database (raises StoreLocked when another controller holds it)."""
    store = Store(settings.db_path, settings.db_synchronous)
    hypervisors = Hypervisors(store)
    segments = SegmentPools(
        tunnel_ranges={"vxlan": list(settings.vni_ranges),
                       "gre": list(settings.tunnel_id_ranges)},
        vlan_ranges=settings.network_vlan_ranges, flat_networks=settings.flat_networks)
    model = NetworkModel(store, segments, settings,
                         dhcp_host=socket.gethostname().split(".")[0],
                         host_zones=hypervisors.zones)
    model.sync_dhcp_ports()
    model.sync_l3_port_projects()
    topology = Topology(hypervisors.all())
    model.vif_details = functools.partial(topology.vif_details,
                                          datapath_type=settings.datapath_type)
    dvr_macs = DvrMacs(store, settings.dvr_base_mac)
    zones, neighbours = NatZones(store), Neighbours(store)
    down_time = (settings.agent_down_time if settings.allow_automatic_l3agent_failover
                 else None)
    passed_over = PassedOverGateways(store)
    if down_time is None:
        passed_over.keep(frozenset())   # switched off: nobody stays passed over
    failover = GatewayFailover(down_time, passed_over.names)
    planner = Planner(model, topology, LocalVlans(store), dvr_macs,
                      settings.dhcp_rate_limit_per_port, settings.dhcp_rate_limit_per_bridge,
                      zones, neighbours, failover)
    model.sync_fip_gateways()
    engine = Engine(model, planner, hypervisors, dvr_macs, zones, neighbours, passed_over)
    engine.north_south.sync_zones()
    return Core(settings, engine)
