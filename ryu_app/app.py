"""The Ryu application: a thin shim from OpenFlow, OVSDB and HTTP events to the pure core.

Run it as ``ryu-manager [--config-file FILE] ryu_app.app``.

Hypervisors dial in twice: their ovsdb-server to the OVSDB listener (``set-manager``),
which registers them and shows their bridges and ports, and each of their bridges to
the OpenFlow listener, which the controller pointed them at.  A bridge's OpenFlow
connection is matched to its hypervisor by datapath id, which OVSDB reports.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import webob
from ryu.app.wsgi import WSGIApplication
from ryu.base import app_manager
from ryu.controller import event, ofp_event
from ryu.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

import ryu_app.compat  # noqa: F401  (must precede Ryu's wsgi import)
from rest.api import NeutronApi
from ryu_app import config, http_server, ofmsg, router_packets, tls
from ryu_app.confirmations import Confirmations, Event
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.hypervisors import Hypervisors
from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store, StoreLocked
from ryu_app.engine import Engine, Outputs
from ryu_app.model.tenant import NetworkModel
from ryu_app.ovsdb import hypervisor, provisioning
from ryu_app.ovsdb.session import Listener, Session
from ryu_app.pipeline.planner import Planner
from topology.graph import Topology


tls.openflow_listener()


class EventOvsdb(event.EventBase):
    """Something happened on a hypervisor's OVSDB session: ready, changed, replied, closed.
    Sessions run in their own green threads; as Ryu events, what they report is handled
    in the app's event loop, in order with the OpenFlow events."""

    def __init__(self, session: Session, kind: str, tag: Any = None, error: str | None = None):
        super().__init__()
        self.session, self.kind, self.tag, self.error = session, kind, tag, error


class EventFlush(event.EventBase):
    """Recompute what the events queued before this one touched.  One is queued when the
    first of them arrives, so everything that arrives meanwhile is one batch."""


class NeutronRyuApp(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}   # makes ryu-manager start the HTTP server
    _EVENTS = [EventOvsdb, EventFlush]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings = config.load()
        segments = SegmentPools(
            tunnel_ranges={"vxlan": list(settings.vni_ranges),
                           "gre": list(settings.tunnel_id_ranges)},
            vlan_ranges=settings.network_vlan_ranges, flat_networks=settings.flat_networks)
        try:
            store = Store(settings.db_path, settings.db_synchronous)
        except StoreLocked as error:
            raise SystemExit(f"neutron-ryu: {error}") from None
        self.model = NetworkModel(
            store, segments,
            default_project=settings.default_project_id,
            distributed_routers=settings.router_distributed,
            global_mtu=settings.global_physnet_mtu,
            tenant_network_types=settings.tenant_network_types,
            enabled_network_types=settings.type_drivers)
        hypervisors = Hypervisors(store)
        self.topology = Topology(hypervisors.all())
        self.dvr_macs = DvrMacs(store, settings.dvr_base_mac)
        self.planner = Planner(self.model, self.topology, LocalVlans(store), self.dvr_macs)
        self.engine = Engine(self.model, self.planner, hypervisors, self.dvr_macs)
        self.confirmations = Confirmations()
        self._datapaths: dict[int, object] = {}     # OpenFlow connections by datapath id
        self.sessions: dict[str, Session] = {}      # OVSDB sessions by chassis
        self._chassis_of: dict[Session, str] = {}
        self._provisioners: dict[str, provisioning.Provisioner] = {}   # per chassis
        self._change_queued: set[Session] = set()
        self._refused: dict[Session, str] = {}      # why a session registers no chassis
        self._batch: Event | None = None            # the events waiting for EventFlush
        self.api = NeutronApi(self.model, lambda: self.topology.agents(self.dvr_macs.all()),
                              {"topology": self.topology.to_json,
                               "wiring": self.confirmations.view})
        http_server.install(settings.api_client_timeout, self._wsgi)
        context = tls.server_context(settings.tls) if settings.tls else None
        self.ovsdb = Listener(settings.ovsdb_listen_host, settings.ovsdb_listen_port, self,
                              settings.ovsdb_probe_interval, context)

    def start(self):
        thread = super().start()
        hub.spawn(self.ovsdb.serve_forever)
        return thread

    def _wsgi(self, environ: dict, start_response):
        """A REST request: the API answers it; what its writes touch is recomputed with
        the batch they join, after the answer (a stored write stands whatever follows)."""
        request = webob.Request(environ)
        response = self.api.handle(request)
        if self.model.journal:
            self._batched("api", f"{request.method} {request.path_info}")
        return response(environ, start_response)

    def _batched(self, cause: str, detail: str | None = None) -> Event:
        """Something touched the engine: the batch it joins, flushed by the EventFlush
        queued when the batch began."""
        if self._batch is None:
            self._batch = self.confirmations.begin("batch", causes={}, chassis=[],
                                                   ports_added=[], ports_removed=[])
            self.send_event(self.name, EventFlush())
        causes = self._batch.details["causes"]
        causes[cause] = causes.get(cause, 0) + 1
        if detail is not None and len(self._batch.details.setdefault("examples", [])) < 5:
            self._batch.details["examples"].append(detail)
        return self._batch

    @set_ev_cls(EventFlush)
    def _flush(self, ev: EventFlush) -> None:
        batch, self._batch = self._batch, None
        try:
            self._send(self.engine.flush(), batch)
        finally:
            self.confirmations.end(batch)

    # ------------------------------------------------- OVSDB sessions (handler)

    def ovsdb_ready(self, session: Session) -> None:
        self.send_event(self.name, EventOvsdb(session, "ready"))

    def ovsdb_changed(self, session: Session) -> None:
        if session not in self._change_queued:   # one look covers every change until then
            self._change_queued.add(session)
            self.send_event(self.name, EventOvsdb(session, "changed"))

    def ovsdb_replied(self, session: Session, tag: Any, error: str | None) -> None:
        self.send_event(self.name, EventOvsdb(session, "replied", tag, error))

    def ovsdb_closed(self, session: Session) -> None:
        self.send_event(self.name, EventOvsdb(session, "closed"))

    @set_ev_cls(EventOvsdb)
    def _ovsdb_event(self, ev: EventOvsdb) -> None:
        session = ev.session
        if ev.kind == "closed":
            self._session_closed(session)
        elif ev.kind == "replied":
            self._replied(session, ev.tag, ev.error)
        elif not session.closed:
            self._change_queued.discard(session)
            self._hypervisor_changed(session, first=ev.kind == "ready")

    def _hypervisor_changed(self, session: Session, first: bool) -> None:
        """Look at the hypervisor's database again: its registration, bridges and ports."""
        try:
            spec = hypervisor.chassis_of(session.replica)
        except ValueError as error:
            if self._refused.get(session) != str(error):
                self.logger.warning("hypervisor at %s is not registered: %s",
                                    session.peer, error)
                self._refused[session] = str(error)
            self._forget(session)
            return
        self._refused.pop(session, None)
        if self._chassis_of.get(session) != spec.name:
            self._forget(session)
            previous = self.sessions.get(spec.name)
            if previous is not None:   # the hypervisor reconnected before we saw it leave
                if previous.peer != session.peer:
                    self.logger.warning("hypervisor %s now connects from %s, was %s: two "
                                        "hosts with one system-id?", spec.name,
                                        session.peer, previous.peer)
                self._forget(previous)
                previous.close()
            self.sessions[spec.name] = session
            self._chassis_of[session] = spec.name
            self._provisioners[spec.name] = provisioning.Provisioner()
            first = True
            self.logger.info("hypervisor %s (tunnel IP %s) connected from %s", spec.name,
                             spec.tunnel_ip, session.peer)
        changes = self.engine.database_seen(spec, hypervisor.bridge_views(session.replica),
                                            full=first)
        batch = self._batched("hypervisor")
        if spec.name not in batch.details["chassis"]:
            batch.details["chassis"].append(spec.name)
        batch.details["ports_added"] += [port.name for _, port in changes.ports_added]
        batch.details["ports_removed"] += [port.name for _, port in changes.ports_removed]
        self._connect_waiting_bridges()

    def _provision(self, chassis: str) -> None:
        """Send what the hypervisor's database still lacks (bridges, patches, tunnels),
        one transaction per object, none for an object whose change is under way."""
        session = self.sessions.get(chassis)
        if session is None or not session.ready:
            return
        openflow = provisioning.controller_target(
            session.local_address, self.settings.openflow_port, tls=bool(self.settings.tls))
        target = self.engine.target(chassis, openflow, self.settings.datapath_type)
        structure = self.topology.structure.get(chassis, 0)
        for key, operations in self._provisioners[chassis].due(session.replica, target,
                                                               structure):
            session.transact(operations, key)

    def _replied(self, session: Session, key: Any, error: str | None) -> None:
        chassis = self._chassis_of.get(session)
        if chassis is None or self.sessions.get(chassis) is not session:
            return
        self._provisioners[chassis].settled(key)
        if error is not None:
            self.logger.warning("hypervisor %s refused %s: %s", chassis, key, error)
            return   # the next change of its database plans again
        if key[0] == "tags":   # the wanted tags may have moved on meanwhile
            self._write_tags(chassis, self.engine.tags(chassis, key[1]))
        else:
            self._provision(chassis)

    def _session_closed(self, session: Session) -> None:
        chassis = self._chassis_of.get(session)
        self._forget(session)
        self._refused.pop(session, None)
        if chassis is not None:
            self.logger.info("hypervisor %s: OVSDB session from %s closed", chassis,
                             session.peer)

    def _forget(self, session: Session) -> None:
        self._change_queued.discard(session)
        chassis = self._chassis_of.pop(session, None)
        if chassis is not None and self.sessions.get(chassis) is session:
            del self.sessions[chassis]
            self._provisioners.pop(chassis, None)
            self.engine.session_lost(chassis)

    def _write_tags(self, chassis: str, tags: dict[str, int]) -> None:
        """Port.tag on the VM's own hypervisor, in one transaction, only where it differs
        and not for a port whose tag is being written already."""
        session = self.sessions.get(chassis)
        if session is None:
            return   # written when it is back (every device is retagged then)
        transaction = self._provisioners[chassis].retag(session.replica, tags)
        if transaction is not None:
            session.transact(transaction[1], transaction[0])

    # ------------------------------------------------------------- OpenFlow

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _datapath_state(self, ev):
        datapath = ev.datapath
        if datapath.id is None:
            return
        if ev.state == MAIN_DISPATCHER:
            self._datapaths[datapath.id] = datapath
            self._connect_bridge(datapath)
        elif self._datapaths.get(datapath.id) is datapath:   # not replaced by a newer one
            del self._datapaths[datapath.id]
            self.engine.bridge_gone(datapath.id)
            self.confirmations.bridge_gone(datapath.id)
            self.logger.info("datapath %016x disconnected", datapath.id)

    def _connect_waiting_bridges(self) -> None:
        """OpenFlow connections that arrived before their hypervisor's OVSDB named them."""
        for dpid, datapath in list(self._datapaths.items()):
            if dpid not in self.topology.connected:
                self._connect_bridge(datapath)

    def _connect_bridge(self, datapath) -> None:
        bridge = self.topology.bridges.get(datapath.id)
        if bridge is None:
            self.logger.info("datapath %016x: no hypervisor's database names it (yet)",
                             datapath.id)
            return
        self.logger.info("hypervisor %s: %s bridge %s connected (%016x)",
                         bridge.chassis, bridge.role, bridge.name, datapath.id)
        if bridge.role == "int":
            self._answer_expired_ttl(datapath)
        with self._confirming("bridge-connected", bridge=bridge.name,
                              chassis=[bridge.chassis]) as event:
            self._send(self.engine.bridge_connected(datapath.id), event)
            # What still carries an earlier cookie is swept when the dump comes back.
            datapath.send_msg(datapath.ofproto_parser.OFPFlowStatsRequest(datapath))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev):
        datapath = ev.msg.datapath
        state = self.engine.bridges.get(datapath.id)
        if state is None:
            return
        stale = [stat for stat in ev.msg.body if state.is_stale(stat.cookie)]
        for stat in stale:
            datapath.send_msg(ofmsg.flow_delete(datapath, stat.table_id, stat.priority,
                                                stat.match, stat.cookie))
        if stale:
            self.logger.info("datapath %016x: removed %d stale flows", datapath.id, len(stale))

    def _answer_expired_ttl(self, datapath) -> None:
        """Routed frames whose TTL runs out in dec_ttl come here (rate-limited by the
        switch) to be answered with ICMP time exceeded."""
        datapath.send_msg(ofmsg.invalid_ttl_to_controller(datapath))
        for message in ofmsg.controller_meter(datapath, self.settings.packet_in_rate_limit):
            datapath.send_msg(message)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg, datapath = ev.msg, ev.msg.datapath
        if msg.reason != datapath.ofproto.OFPR_INVALID_TTL:
            return
        reply = router_packets.time_exceeded_reply(msg.data, self.planner.gateway_ip)
        if reply is not None:
            datapath.send_msg(ofmsg.packet_out(datapath, msg.match["in_port"], reply))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier_reply(self, ev):
        self.confirmations.barrier_reply(ev.msg.datapath.id, ev.msg.xid)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev):
        msg = ev.msg
        self.logger.error("datapath %016x refused a message: type=%d code=%d data=%s",
                          msg.datapath.id, msg.type, msg.code, msg.data[:64].hex())

    # ------------------------------------------------------------- outputs

    @contextlib.contextmanager
    def _confirming(self, what: str, **details) -> Iterator[Event]:
        """An event whose flow-mods are confirmed by barrier replies."""
        event = self.confirmations.begin(what, **details)
        try:
            yield event
        finally:
            self.confirmations.end(event)

    def _send(self, outputs: Outputs, event: Event) -> None:
        """What the engine asked for: flow-mods and a barrier per bridge, then gratuitous
        ARPs (after the flows they announce, on the same connection), tags, provisioning."""
        for dpid, mods in outputs.flow_mods.items():
            datapath = self._datapaths.get(dpid)
            if datapath is None or not mods:
                continue
            payload, barrier_xid = ofmsg.batch(datapath, mods)
            datapath.send(payload)
            self.confirmations.sent(event, dpid, len(mods), barrier_xid)
        for dpid, ofport, ip, mac in outputs.announcements:
            datapath = self._datapaths.get(dpid)
            if datapath is not None:
                datapath.send_msg(ofmsg.packet_out(datapath, ofport,
                                                   router_packets.gratuitous_arp(ip, mac)))
        for chassis, tags in outputs.tags.items():
            self._write_tags(chassis, tags)
        for chassis in outputs.provision:
            self._provision(chassis)
