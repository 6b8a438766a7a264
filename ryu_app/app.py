"""The Ryu application: a thin shim from OpenFlow events and HTTP to the pure core.

Run it as ``ryu-manager [--config-file FILE] ryu_app.app``.
"""
from __future__ import annotations

import ryu_app.compat  # noqa: F401  (must precede Ryu's wsgi import)

import contextlib
import contextvars
from typing import Iterator

from ryu.app.wsgi import ControllerBase, WSGIApplication, route
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER
from ryu.controller.handler import set_ev_cls
from ryu.ofproto import ofproto_v1_3

from rest.api import NeutronApi
from ryu_app import config, ofmsg, router_packets
from ryu_app.binding import PortBinder
from ryu_app.confirmations import Confirmations, Event
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store
from ryu_app.model.tenant import NetworkModel
from ryu_app.ovsdb import Ovsdb, OvsdbError
from ryu_app.pipeline.planner import Planner
from ryu_app.reconciler import FlowMods
from ryu_app.wiring import Wiring
from topology.graph import Topology
from topology.naming import PortInfo, classify

HANDLER_KEY = "http_handler"
# The event whose flow-mods are being sent.  Per green thread: HTTP requests run in
# their own and can interleave (one waits for its body while another is handled).
CURRENT_EVENT: contextvars.ContextVar[Event | None] = contextvars.ContextVar(
    "current_event", default=None)


class NeutronRestShim(ControllerBase):
    """Hands every HTTP request to the Neutron API app, which owns routing and errors."""

    def __init__(self, req, link, data, **config_):
        super().__init__(req, link, data, **config_)
        self.handler = data[HANDLER_KEY]

    @route("neutron", "/{path:.*}")
    def handle(self, req, **_kwargs):
        return self.handler(req)


class NeutronRyuApp(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"wsgi": WSGIApplication}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        settings = config.load()
        segments = SegmentPools(
            tunnel_ranges={"vxlan": list(settings.vni_ranges),
                           "gre": list(settings.tunnel_id_ranges)},
            vlan_ranges=settings.network_vlan_ranges, flat_networks=settings.flat_networks)
        store = Store(settings.db_path, settings.db_synchronous)
        self.model = NetworkModel(
            store, segments,
            default_project=settings.default_project_id,
            distributed_routers=settings.router_distributed,
            global_mtu=settings.global_physnet_mtu,
            tenant_network_types=settings.tenant_network_types,
            enabled_network_types=settings.type_drivers)
        self.topology = Topology(settings.chassis)
        self.ovsdb = Ovsdb(settings.ovsdb_connection)
        self.binder = PortBinder(self.model)
        self.dvr_macs = DvrMacs(store, settings.dvr_base_mac)
        for chassis in self.topology.chassis:
            self.dvr_macs.ensure(chassis)
        self.planner = Planner(self.model, self.topology, LocalVlans(store), self.dvr_macs)
        self.wiring = Wiring(self.planner, send=self._send_flow_mods, set_tag=self._set_port_tag)
        self.packet_in_rate_limit = settings.packet_in_rate_limit
        self.model.listeners += [self.wiring.model_changed, self._announce_gateways]
        self.confirmations = Confirmations()
        self._datapaths: dict[int, object] = {}
        self._port_desc: dict[int, list] = {}
        self.api = NeutronApi(self.model, lambda: self.topology.agents(self.dvr_macs.all()),
                              {"topology": self.topology.to_json,
                               "wiring": self.confirmations.view})
        kwargs["wsgi"].register(NeutronRestShim, {HANDLER_KEY: self._http})

    def _http(self, request):
        with self._confirming("api", method=request.method, path=request.path_info):
            return self.api.handle(request)

    # ------------------------------------------------------------- OpenFlow

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _switch_features(self, ev):
        datapath = ev.msg.datapath
        self._port_desc[datapath.id] = []
        datapath.send_msg(datapath.ofproto_parser.OFPPortDescStatsRequest(datapath, 0))

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def _port_desc_reply(self, ev):
        datapath = ev.msg.datapath
        parts = self._port_desc.setdefault(datapath.id, [])
        parts.extend(ev.msg.body)
        if ev.msg.flags & datapath.ofproto.OFPMPF_REPLY_MORE:
            return
        descriptions = self._port_desc.pop(datapath.id)
        local = [d for d in descriptions if d.port_no == datapath.ofproto.OFPP_LOCAL]
        if not local:
            self.logger.warning("datapath %016x reported no LOCAL port", datapath.id)
            return
        name = local[0].name.decode()
        ports = self._describe([d for d in descriptions if d.port_no < datapath.ofproto.OFPP_MAX])
        bridge = self.topology.add_bridge(datapath.id, name, ports, datapath.address[0])
        if bridge is None:
            self.logger.warning("bridge %s (%016x) belongs to no configured chassis; ignored",
                                name, datapath.id)
            return
        self.logger.info("chassis %s: %s bridge %s connected (%016x)",
                         bridge.chassis, bridge.role, name, datapath.id)
        self._ovsdb_call(self.ovsdb.set_fail_mode, name, "secure")
        self._datapaths[datapath.id] = datapath
        if bridge.role == "int":
            self._answer_expired_ttl(datapath)
        with self._confirming("bridge-connected", bridge=name, chassis=bridge.chassis):
            self.wiring.bridge_connected(bridge)
            # What still carries an earlier cookie is swept when the dump comes back.
            datapath.send_msg(datapath.ofproto_parser.OFPFlowStatsRequest(datapath))
            if bridge.role == "int":
                self.binder.integration_bridge_synced(bridge.chassis, ports)
            self.wiring.chassis_ports_changed(bridge.chassis)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev):
        datapath = ev.msg.datapath
        state = self.wiring.bridges.get(datapath.id)
        if state is None:
            return
        stale = [stat for stat in ev.msg.body if state.is_stale(stat.cookie)]
        for stat in stale:
            datapath.send_msg(ofmsg.flow_delete(datapath, stat.table_id, stat.priority,
                                                stat.match, stat.cookie))
        if stale:
            self.logger.info("datapath %016x: removed %d stale flows", datapath.id, len(stale))

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        msg, datapath = ev.msg, ev.msg.datapath
        bridge = self.topology.bridges.get(datapath.id)
        if bridge is None or msg.desc.port_no >= datapath.ofproto.OFPP_MAX:
            return
        name = msg.desc.name.decode()
        deleted = msg.reason == datapath.ofproto.OFPPR_DELETE
        with self._confirming("port-deleted" if deleted else "port-added", port=name,
                              chassis=bridge.chassis):
            if deleted:
                port = self.topology.remove_port(datapath.id, name)
                if port is None:
                    return
                if port.kind == "vm" and bridge.role == "int":
                    self.binder.device_removed(bridge.chassis, port)
                    self.wiring.device_unplugged(bridge, port)
                else:
                    self.wiring.chassis_ports_changed(bridge.chassis)
                return
            port = self._describe([msg.desc])[0]
            self.topology.add_port(datapath.id, port)
            if port.kind == "vm" and bridge.role == "int":
                self.binder.device_added(bridge.chassis, port)
                self.wiring.device_plugged(bridge, port)
            else:
                self.wiring.chassis_ports_changed(bridge.chassis)

    def _answer_expired_ttl(self, datapath) -> None:
        """Routed frames whose TTL runs out in dec_ttl come here (rate-limited by the
        switch) to be answered with ICMP time exceeded."""
        datapath.send_msg(ofmsg.invalid_ttl_to_controller(datapath))
        for message in ofmsg.controller_meter(datapath, self.packet_in_rate_limit):
            datapath.send_msg(message)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg, datapath = ev.msg, ev.msg.datapath
        if msg.reason != datapath.ofproto.OFPR_INVALID_TTL:
            return
        reply = router_packets.time_exceeded_reply(msg.data, self.planner.gateway_ip)
        if reply is not None:
            datapath.send_msg(ofmsg.packet_out(datapath, msg.match["in_port"], reply))

    def _announce_gateways(self, kind: str, old: dict | None, new: dict | None) -> None:
        """A model listener, after the wiring's: the new interface's flows are on their way
        (same connection, in order), now its gratuitous ARP."""
        if kind != "port":
            return
        for dpid, ofport, ip, mac in self.planner.gateway_announcements(old, new):
            datapath = self._datapaths.get(dpid)
            if datapath is not None:
                datapath.send_msg(ofmsg.packet_out(datapath, ofport,
                                                   router_packets.gratuitous_arp(ip, mac)))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier_reply(self, ev):
        self.confirmations.barrier_reply(ev.msg.datapath.id, ev.msg.xid)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev):
        msg = ev.msg
        self.logger.error("datapath %016x refused a message: type=%d code=%d data=%s",
                          msg.datapath.id, msg.type, msg.code, msg.data[:64].hex())

    @set_ev_cls(ofp_event.EventOFPStateChange, DEAD_DISPATCHER)
    def _datapath_gone(self, ev):
        dpid = ev.datapath.id
        if dpid is None:
            return
        self._datapaths.pop(dpid, None)
        self.wiring.bridge_gone(dpid)
        self.confirmations.bridge_gone(dpid)
        if self.topology.remove_bridge(dpid):
            self.logger.info("datapath %016x disconnected", dpid)

    # ------------------------------------------------------------- outputs

    @contextlib.contextmanager
    def _confirming(self, what: str, **details) -> Iterator[None]:
        """Record what an event sends, to confirm it by barrier replies."""
        event = self.confirmations.begin(what, **details)
        token = CURRENT_EVENT.set(event)
        try:
            yield
        finally:
            self.confirmations.end(event)
            CURRENT_EVENT.reset(token)

    def _send_flow_mods(self, dpid: int, mods: FlowMods) -> None:
        datapath = self._datapaths.get(dpid)
        if datapath is None:
            return
        for flow in mods.adds:
            datapath.send_msg(ofmsg.flow_add(datapath, flow))
        for flow in mods.deletes:
            datapath.send_msg(ofmsg.flow_delete(datapath, flow.table, flow.priority,
                                                flow.match, flow.cookie))
        barrier = datapath.ofproto_parser.OFPBarrierRequest(datapath)
        datapath.send_msg(barrier)
        event = CURRENT_EVENT.get()
        if event is not None:
            self.confirmations.sent(event, dpid, len(mods), barrier.xid)

    def _set_port_tag(self, device: str, tag: int) -> None:
        if not self._ovsdb_call(self.ovsdb.set_port_tag, device, tag):
            self.logger.warning("could not tag %s with VLAN %d", device, tag)

    def _ovsdb_call(self, method, *args) -> bool:
        try:
            return method(*args)
        except (OSError, OvsdbError) as error:
            self.logger.error("OVSDB %s%s failed: %s", method.__name__, args, error)
            return False

    def _describe(self, descriptions: list) -> list[PortInfo]:
        """PortInfo for OpenFlow port descriptions, with OVSDB's interface type and options."""
        names = [d.name.decode() for d in descriptions]
        try:
            interfaces = self.ovsdb.interfaces(names)
        except (OSError, OvsdbError) as error:
            self.logger.warning("OVSDB unavailable (%s); classifying ports by name", error)
            interfaces = {}
        ports = []
        for description, name in zip(descriptions, names, strict=True):
            iface = interfaces.get(name, {})
            ports.append(classify(name, description.port_no, iface.get("type", ""),
                                  iface.get("options"), description.hw_addr))
        return ports
