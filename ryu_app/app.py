"""The Ryu application: a thin shim from OpenFlow events and HTTP to the pure core.

Run it as ``ryu-manager [--config-file FILE] ryu_app.app``.
"""
from __future__ import annotations

import ryu_app.compat  # noqa: F401  (must precede Ryu's wsgi import)

from ryu.app.wsgi import ControllerBase, WSGIApplication, route
from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER
from ryu.controller.handler import set_ev_cls
from ryu.ofproto import ofproto_v1_3

from rest.api import NeutronApi
from ryu_app import config
from ryu_app.binding import PortBinder
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store
from ryu_app.model.tenant import NetworkModel
from ryu_app.ovsdb import Ovsdb, OvsdbError
from topology.graph import Topology
from topology.naming import PortInfo, classify

API_KEY = "neutron_api"


class NeutronRestShim(ControllerBase):
    """Hands every HTTP request to the Neutron API app, which owns routing and errors."""

    def __init__(self, req, link, data, **config_):
        super().__init__(req, link, data, **config_)
        self.api = data[API_KEY]

    @route("neutron", "/{path:.*}")
    def handle(self, req, **_kwargs):
        return self.api.handle(req)


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
        self.model = NetworkModel(
            Store(settings.db_path, settings.db_synchronous), segments,
            default_project=settings.default_project_id,
            distributed_routers=settings.router_distributed,
            global_mtu=settings.global_physnet_mtu,
            tenant_network_types=settings.tenant_network_types,
            enabled_network_types=settings.type_drivers)
        self.topology = Topology(settings.chassis)
        self.ovsdb = Ovsdb(settings.ovsdb_connection)
        self.binder = PortBinder(self.model)
        self._port_desc: dict[int, list] = {}
        api = NeutronApi(self.model, self.topology.agents, self.topology.to_json)
        kwargs["wsgi"].register(NeutronRestShim, {API_KEY: api})

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
        if bridge.role == "int":
            self.binder.integration_bridge_synced(bridge.chassis, ports)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        msg, datapath = ev.msg, ev.msg.datapath
        bridge = self.topology.bridges.get(datapath.id)
        if bridge is None or msg.desc.port_no >= datapath.ofproto.OFPP_MAX:
            return
        name = msg.desc.name.decode()
        if msg.reason == datapath.ofproto.OFPPR_DELETE:
            port = self.topology.remove_port(datapath.id, name)
            if port is not None and bridge.role == "int":
                self.binder.device_removed(bridge.chassis, port)
            return
        port = self._describe([msg.desc])[0]
        self.topology.add_port(datapath.id, port)
        if bridge.role == "int":
            self.binder.device_added(bridge.chassis, port)

    @set_ev_cls(ofp_event.EventOFPStateChange, DEAD_DISPATCHER)
    def _datapath_gone(self, ev):
        if ev.datapath.id is not None and self.topology.remove_bridge(ev.datapath.id):
            self.logger.info("datapath %016x disconnected", ev.datapath.id)

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
