"""The Ryu application: the shim between sockets and the core (``ryu_app/core.py``).

Run it as ``ryu-manager [--config-file FILE] ryu_app.app``.

Hypervisors dial in twice: their ovsdb-server to the OVSDB listener (``set-manager``)
and each of their bridges to the OpenFlow listener, which the controller pointed them
at.  The shim decodes what arrives (OpenFlow events, OVSDB session reports, HTTP
requests) into plain calls of the core, and sends what the core returns: flow-mods with
a barrier per bridge, other OpenFlow messages, OVSDB transactions.  It decides nothing
but when to flush: once the events that were queued when a batch began are handled, so
whatever arrives meanwhile is recomputed once.
"""
from __future__ import annotations

import contextlib
import gc
import itertools
import time
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
from ryu_app import config, core, http_server, ofmsg, tls, trace, views
from ryu_app.confirmations import Confirmations, Event
from ryu_app.model.store import StoreLocked
from ryu_app.outputs import (CtFlushAddress, CtFlushZone, FlowDelete, FlowStatsRequest,
                             ForgetLearnedVlan, Message, Outputs, PacketInsToController, PacketOut)
from ryu_app.ovsdb.session import Listener, Session
from ryu_app.pipeline import ofwire

tls.openflow_listener()
# Ryu's event loop handles queued events until the queue is empty without yielding; a
# burst of barrier replies and OVSDB updates then kept the REST API's green threads
# waiting for tens of milliseconds.  Ours yields to the hub after this long.
EVENT_LOOP_SLICE = 0.002   # seconds
TICK_EVERY = 2.0           # seconds between the core's ticks (ARP for upstream gateways)
METER_EXISTS = (ofproto_v1_3.OFPET_METER_MOD_FAILED, ofproto_v1_3.OFPMMFC_METER_EXISTS)
PACKET_IN_REASONS = {ofproto_v1_3.OFPR_INVALID_TTL: "invalid_ttl",
                     ofproto_v1_3.OFPR_ACTION: "action", ofproto_v1_3.OFPR_NO_MATCH: "no_match"}


class EventOvsdb(event.EventBase):
    """Something happened on a hypervisor's OVSDB session: ready, changed, replied, closed.
    Sessions run in their own green threads; as Ryu events, what they report is handled
    in the app's event loop, in order with the OpenFlow events."""

    def __init__(self, session: Session, kind: str, tag: Any = None, error: str | None = None):
        super().__init__()
        self.session, self.kind, self.tag, self.error = session, kind, tag, error


class EventTick(event.EventBase):
    """Time passed: the core may have something to send (ARP refreshes)."""


class EventFlush(event.EventBase):
    """Wakes the event loop for a batch that a REST request began (the loop flushes it)."""


class NeutronRyuApp(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}   # makes ryu-manager start the HTTP server
    _EVENTS = [EventOvsdb, EventFlush, EventTick]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings = config.load()
        try:
            self.core = core.build(settings)
        except StoreLocked as error:
            raise SystemExit(f"neutron-ryu: {error}") from None
        self.model, self.planner = self.core.engine.model, self.core.planner
        topology = self.core.topology
        self.confirmations = Confirmations(
            host_of=lambda dpid: getattr(topology.bridges.get(dpid), "chassis", None))
        self._datapaths: dict[int, object] = {}     # OpenFlow connections by datapath id
        self._sessions: dict[int, Session] = {}     # OVSDB sessions by the core's id
        self._session_ids: dict[Session, int] = {}
        self._next_session_id = itertools.count(1)
        self._change_queued: set[Session] = set()
        self._batch: Event | None = None            # what the next flush sends for
        self._handled = 0                           # events the loop has taken
        self._flush_after = 0                       # ... when the batch is due
        self.api = NeutronApi(self.model, self.core.agents,
                              {"topology": lambda params: topology.to_json(),
                               "wiring": lambda params: self.confirmations.view(),
                               "flows": lambda params: views.flows(
                                   self.planner, params, self.core.engine.held()),
                               "trace": lambda params: trace.trace(
                                   self.planner, params, self.core.engine.held(),
                                   self.core.engine.tags)},
                              snat_host=self.planner.nat.snat_chassis)
        http_server.install(settings.api_client_timeout, self._wsgi)
        context = tls.server_context(settings.tls) if settings.tls else None
        self.ovsdb = Listener(settings.ovsdb_listen_host, settings.ovsdb_listen_port, self,
                              settings.ovsdb_probe_interval, context)

    def start(self):
        # What is loaded now (the model, the topology) lives as long as the process: keep
        # it out of the cyclic collector, which otherwise paused the controller for 60-90
        # ms at a time under load, and collect the young generations less often.
        gc.freeze()
        gc.set_threshold(50_000, 50, 1000)
        thread = super().start()
        hub.spawn(self.ovsdb.serve_forever)
        hub.spawn(self._ticking)
        return thread

    def _ticking(self) -> None:
        while self.is_active:
            hub.sleep(TICK_EVERY)
            self.send_event(self.name, EventTick())

    @set_ev_cls(EventTick)
    def _tick(self, ev: EventTick) -> None:
        outputs = self.core.tick()
        self._send(outputs, what="tick")
        if outputs.flush_due:
            self._batched("failover")

    def _event_loop(self):
        """Ryu's event loop (app_manager.RyuApp._event_loop), yielding to the other green
        threads (REST requests, sockets' readers) every EVENT_LOOP_SLICE, and flushing a
        batch once the events queued when it began are handled.  (The loop must not
        queue events for itself: the queue is bounded, and only the loop empties it.)

        While a batch waits for those events the loop does not yield, and it flushes as
        soon as they are handled.  Each yield costs a whole turn of the hub, and under
        load a turn serves every ready REST client: with 80 of them a turn lasted 0.1-0.5
        s, so a batch that waited for 16 queued events, one per turn, was sent 1-2 s late
        while its API writes piled up.  API writes made meanwhile join the batch anyway."""
        deadline = time.perf_counter() + EVENT_LOOP_SLICE
        while self.is_active or not self.events.empty():
            ev, state = self.events.get()
            self._events_sem.release()
            self._handled += 1
            if ev == self._event_stop:
                continue
            for handler in self.get_handlers(ev, state):
                try:
                    handler(ev)
                except hub.TaskExit:
                    raise
                except Exception:  # noqa: BLE001 - as Ryu's loop: log, go on
                    self.logger.exception("%s: handler %s failed on %s", self.name,
                                          handler.__name__, ev.__class__.__name__)
            if self._batch is not None and self._handled >= self._flush_after:
                self._flush()
            if self._batch is None and time.perf_counter() > deadline:
                hub.sleep(0)
                deadline = time.perf_counter() + EVENT_LOOP_SLICE

    # ------------------------------------------------------------------ REST

    def _wsgi(self, environ: dict, start_response):
        """A REST request: the API answers it; its writes go to the core, recomputed with
        the batch they join, after the answer (a stored write stands whatever follows)."""
        request = webob.Request(environ)
        response = self.api.handle(request)
        changes = self.model.take_changes()
        if changes:
            self.core.model_changed(changes)
            began = self._batch is None
            self._batched("api")
            if began:
                self.send_event(self.name, EventFlush())   # the loop may be waiting
        return response(environ, start_response)

    # --------------------------------------------------------------- batches

    def _batched(self, cause: str) -> Event:
        """Something dirtied the core: the batch that notes it, begun (due once the
        events queued now are handled) if there was none."""
        if self._batch is None:
            self._batch = self.confirmations.begin("batch", causes={}, chassis=[],
                                                   ports_added=[], ports_removed=[])
            self._flush_after = self._handled + self.events.qsize()
        causes = self._batch.details["causes"]
        causes[cause] = causes.get(cause, 0) + 1
        return self._batch

    def _flush(self) -> None:
        batch, self._batch = self._batch, None
        try:
            outputs = self.core.flush()
            batch.details["recomputed"] = sum(outputs.recomputed.values())
            batch.details["recomputed_most"] = max(outputs.recomputed.values(), default=0)
            self._send(outputs, batch)
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
        if session not in self._session_ids:
            if ev.kind != "ready":
                return   # reports of a session already forgotten
            self._session_ids[session] = session_id = next(self._next_session_id)
            self._sessions[session_id] = session
        session_id = self._session_ids[session]
        if ev.kind == "closed":
            self._change_queued.discard(session)
            self.core.ovsdb_closed(session_id)
            self.confirmations.session_gone(session_id)
            del self._sessions[self._session_ids.pop(session)]
        elif ev.kind == "replied":
            self.confirmations.transaction_replied(session_id, ev.tag)
            self._send(self.core.ovsdb_replied(session_id, ev.tag, ev.error))
        elif not session.closed:
            self._change_queued.discard(session)
            info = core.SessionInfo(session_id, session.peer, session.local_address)
            outputs, seen = self.core.ovsdb_seen(info, session.replica, first=ev.kind == "ready")
            self._send(outputs)
            if seen.chassis is not None:
                batch = self._batched("hypervisor")
                if seen.chassis not in batch.details["chassis"]:
                    batch.details["chassis"].append(seen.chassis)
                batch.details["ports_added"] += seen.ports_added
                batch.details["ports_removed"] += seen.ports_removed

    # ------------------------------------------------------------- OpenFlow

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _datapath_state(self, ev):
        datapath = ev.datapath
        if datapath.id is None:
            return
        if ev.state == MAIN_DISPATCHER:
            self._datapaths[datapath.id] = datapath
            self._send(self.core.datapath_up(datapath.id), what="bridge-connected")
        elif self._datapaths.get(datapath.id) is datapath:   # not replaced by a newer one
            del self._datapaths[datapath.id]
            self.core.datapath_down(datapath.id)
            self.confirmations.bridge_gone(datapath.id)
            self.logger.info("datapath %016x disconnected", datapath.id)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev):
        entries = [(stat.table_id, stat.priority, stat.match, stat.cookie)
                   for stat in ev.msg.body]
        self._send(self.core.flow_stats(ev.msg.datapath.id, entries))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg, datapath = ev.msg, ev.msg.datapath
        reason = PACKET_IN_REASONS.get(msg.reason, str(msg.reason))
        self._send(self.core.packet_in(datapath.id, reason, msg.match["in_port"], msg.data))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier_reply(self, ev):
        self.confirmations.barrier_reply(ev.msg.datapath.id, ev.msg.xid)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev):
        msg = ev.msg
        if (msg.type, msg.code) == METER_EXISTS:   # meters are set by ADD then MODIFY
            return
        self.logger.error("datapath %016x refused a message: type=%s code=%s data=%s",
                          msg.datapath.id, msg.type, msg.code, msg.data[:64].hex())

    # ------------------------------------------------------------- outputs

    @contextlib.contextmanager
    def _confirming(self, what: str) -> Iterator[Event]:
        """An event whose flow-mods are confirmed by barrier replies."""
        event = self.confirmations.begin(what)
        try:
            yield event
        finally:
            self.confirmations.end(event)

    def _send(self, outputs: Outputs, batch: Event | None = None,
              what: str = "reply") -> None:
        """Each bridge's messages, flow-mods (a barrier after them, recorded with the
        batch) and the messages that follow them, then OVSDB transactions and sessions
        to close."""
        if batch is None:
            with self._confirming(what) as event:
                return self._send(outputs, event)
        bridges = outputs.flow_mods.keys() | outputs.messages.keys() | outputs.after_flows.keys()
        for dpid in bridges:
            datapath = self._datapaths.get(dpid)
            if datapath is None:
                continue
            for message in outputs.messages.get(dpid, []):
                self._send_message(datapath, message)
            mods = outputs.flow_mods.get(dpid)
            if mods:
                payload, barrier_xid = ofmsg.batch(datapath, mods)
                datapath.send(payload)
                self.confirmations.sent(batch, dpid, len(mods), barrier_xid)
            for message in outputs.after_flows.get(dpid, []):
                self._send_message(datapath, message)
        for session_id, transactions in outputs.transactions.items():
            session = self._sessions.get(session_id)
            for key, operations in transactions if session else ():
                self.confirmations.transacted(batch, session_id, key)
                session.transact(operations, key)
        for session_id in outputs.close:
            session = self._sessions.get(session_id)
            if session is not None:
                session.close()
        self._follow_statuses(outputs, batch)
        if outputs.announcements:
            self.confirmations.follow(batch, lambda: self._announce(outputs.announcements))

    def _announce(self, announcements: dict[int, list[PacketOut]]) -> None:
        for dpid, messages in announcements.items():
            datapath = self._datapaths.get(dpid)
            for message in messages if datapath is not None else ():
                self._send_message(datapath, message)

    def _follow_statuses(self, outputs: Outputs, batch: Event) -> None:
        """Floating IPs go DOWN at once, ACTIVE once the bridges that serve them confirmed
        the batch that carried their flows."""
        issues = outputs.fip_issue
        down = {fip: status for fip, status in outputs.fip_status.items() if status != "ACTIVE"}
        if down:
            self.core.floatingip_status(down, issues)
        active: dict[frozenset[int] | None, dict[str, str]] = {}
        for fip, status in outputs.fip_status.items():
            if status == "ACTIVE":
                active.setdefault(outputs.fip_bridges.get(fip), {})[fip] = status
        for bridges, statuses in active.items():
            self.confirmations.follow(batch, lambda statuses=statuses: (
                self.core.floatingip_status(statuses, issues)), bridges)

    @staticmethod
    def _send_message(datapath, message: Message) -> None:
        if isinstance(message, PacketOut):
            datapath.send(ofwire.packet_out(message.actions, message.data))
        elif isinstance(message, FlowStatsRequest):
            datapath.send_msg(datapath.ofproto_parser.OFPFlowStatsRequest(
                datapath, table_id=datapath.ofproto.OFPTT_ALL if message.table is None
                else message.table))
        elif isinstance(message, FlowDelete):
            datapath.send_msg(ofmsg.flow_delete(datapath, message.table, message.priority,
                                                message.match, message.cookie))
        elif isinstance(message, ForgetLearnedVlan):
            datapath.send_msg(ofmsg.forget_vlan(datapath, message.table, message.vlan,
                                                message.cookie))
        elif isinstance(message, CtFlushZone):
            datapath.send(ofmsg.ct_flush_zone(message.zone))
        elif isinstance(message, CtFlushAddress):
            datapath.send(ofmsg.ct_flush_address(message.zone, message.address))
        elif isinstance(message, PacketInsToController):
            datapath.send_msg(ofmsg.packet_in_reasons(datapath))
            for meter in ofmsg.controller_meter(datapath, message.rate):
                datapath.send_msg(meter)
