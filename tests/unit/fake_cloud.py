"""Three hypervisors as the core sees them, driven as the shim drives it (no Ryu, no OVS).

Each hypervisor's Open vSwitch database is a monitored replica fed ``update2`` rows, as
its ovsdb-server would send them: its registration, Neutron's bridges and patch ports, a
VXLAN and a GRE tunnel to each other hypervisor, an uplink on br-eth1, and the VM
devices plugged with ``iface-id``.  Its bridges connect over OpenFlow; API writes reach
the core as change sets; every batch ends with one flush.  What the core asks to send
is kept, and ``send`` walks a packet through what the bridges then hold, with the
offline simulator.
"""
from __future__ import annotations

import itertools
from typing import Any

from ryu.lib.packet import arp, ethernet, ether_types, icmp, ipv4, packet, vlan

from rest.attributes import RESOURCES, parse_body
from ryu_app import core, trace
from ryu_app.outputs import Outputs, PacketOut
from ryu_app.ovsdb.protocol import Replica, ovs_map, ovs_set, ref
from ryu_app.pipeline.simulator import Result, inject, simulate
from ryu_app.settings import Settings
from topology.chassis import ChassisSpec

CHASSIS = ("n0", "n1", "n2")
IPS = {"n0": "172.31.0.10", "n1": "172.31.0.11", "n2": "172.31.0.12"}
PATCH, INT_PHY, UPLINK, TUNNEL_BASE = 1, 2, 3, 10   # ofports; tunnels: 10 + remote's index
FIRST_VM_OFPORT = 100
SNAT_MODES = {"n2": "dvr_snat"}
# physical networks as each hypervisor maps them: (physnet, bridge, br-int's patch ofport,
# the bridge's role); physnet1 always, physnet2 when a cloud asks for it
PHYSNETS = (("physnet1", "br-eth1", INT_PHY, "phys"), ("physnet2", "br-eth2", 4, "phys2"))
UPSTREAM_IP, UPSTREAM_MAC = "203.0.113.1", "52:54:00:00:00:01"
PUBLIC_VLAN = 130   # the external network of ``north_south``, on physnet1


def dpid(chassis: str, role: str) -> int:
    return (CHASSIS.index(chassis) + 1) * 16 + ("int", "tun", "phys", "phys2").index(role)


def tunnel_ofport(remote: str, kind: str = "vxlan") -> int:
    return TUNNEL_BASE + CHASSIS.index(remote) + (20 if kind == "gre" else 0)


class FakeDatabase:
    """One hypervisor's database, as the rows its monitor sends."""

    def __init__(self, spec: ChassisSpec):
        self.replica = Replica()
        self._uuids = (f"u{n}" for n in itertools.count(1))
        self.bridges: dict[str, str] = {}                  # name -> uuid
        self.ports: dict[str, tuple[str, str, str]] = {}   # name -> bridge, port, interface
        mappings = ",".join(f"{net}:{br}" for net, br in spec.bridge_mappings.items())
        self.replica.apply({"Open_vSwitch": {"root": {"initial": {"external_ids": ovs_map({
            "system-id": spec.name, "neutron-tunnel-ip": spec.tunnel_ip,
            "neutron-bridge-mappings": mappings, "neutron-agent-mode": spec.agent_mode}),
            "bridges": ovs_set([])}}}})

    def add_bridge(self, name: str, datapath_id: int) -> None:
        uuid = self.bridges[name] = next(self._uuids)
        self.replica.apply({
            "Bridge": {uuid: {"insert": {"name": name, "datapath_id": f"{datapath_id:016x}",
                                         "ports": ovs_set([])}}},
            "Open_vSwitch": {"root": {"modify": {"bridges": ovs_set([ref(uuid)])}}}})

    def add_port(self, bridge: str, name: str, ofport: int, kind: str = "",
                 options: dict | None = None, external_ids: dict | None = None) -> None:
        port, interface = next(self._uuids), next(self._uuids)
        self.ports[name] = (bridge, port, interface)
        self.replica.apply({
            "Interface": {interface: {"insert": {
                "name": name, "type": kind, "ofport": ofport,
                "options": ovs_map(options or {}), "external_ids": ovs_map(external_ids or {})}}},
            "Port": {port: {"insert": {"name": name, "interfaces": ref(interface)}}},
            "Bridge": {self.bridges[bridge]: {"modify": {"ports": ovs_set([ref(port)])}}}})

    def set_tag(self, name: str, tag: int) -> None:
        """What ovsdb-server shows once a tags transaction committed."""
        _, port, _ = self.ports[name]
        self.replica.apply({"Port": {port: {"modify": {"tag": tag}}}})

    def remove_port(self, name: str) -> None:
        bridge, port, interface = self.ports.pop(name)
        self.replica.apply({
            "Bridge": {self.bridges[bridge]: {"modify": {"ports": ovs_set([ref(port)])}}},
            "Port": {port: {"delete": None}}, "Interface": {interface: {"delete": None}}})

    def build_neutron_bridges(self, spec: ChassisSpec) -> None:
        """What the controller would have built: br-int, br-tun, each mapped br-ethN,
        their patches, the tunnel mesh; plus the operator's uplink on each br-ethN."""
        c = spec.name
        for role, name in (("int", "br-int"), ("tun", "br-tun")):
            self.add_bridge(name, dpid(c, role))
        self.add_port("br-int", "patch-tun", PATCH, "patch", {"peer": "patch-int"})
        self.add_port("br-tun", "patch-int", PATCH, "patch", {"peer": "patch-tun"})
        for physnet, name, int_phy, role in PHYSNETS:
            if physnet in spec.bridge_mappings:
                self.add_bridge(name, dpid(c, role))
                self.add_port("br-int", "int-" + name, int_phy, "patch", {"peer": "phy-" + name})
                self.add_port(name, "phy-" + name, PATCH, "patch", {"peer": "int-" + name})
                self.add_port(name, "eth" + name[-1], UPLINK)
        for remote in CHASSIS:
            for kind in ("vxlan", "gre") if remote != c else ():
                self.add_port("br-tun", f"{kind}-{remote}", tunnel_ofport(remote, kind), kind,
                              {"remote_ip": IPS[remote], "local_ip": spec.tunnel_ip})


class FakeCloud:
    def __init__(self, tmp_path, physnets: int = 1, **settings: Any):
        """``physnets``: how many of PHYSNETS each hypervisor maps."""
        mapped = PHYSNETS[:physnets]
        settings = Settings(**{
            "db_path": str(tmp_path / "db.sqlite"), "vni_ranges": ((1001, 2000),),
            "tunnel_id_ranges": ((1, 100),),
            "network_vlan_ranges": {physnet: [(100, 199)] for physnet, *_ in mapped},
            "datapath_type": "netdev", **settings})
        self._use(core.build(settings))
        self.roles = ("int", "tun", *(role for *_, role in mapped))
        # n2 may host routers' SNAT (a network node); physnet1 also carries the outside
        self.specs = {c: ChassisSpec(c, IPS[c], {physnet: name for physnet, name, *_ in mapped},
                                     agent_mode=SNAT_MODES.get(c, "dvr")) for c in CHASSIS}
        self.databases = {c: FakeDatabase(self.specs[c]) for c in CHASSIS}
        self.sessions = {c: core.SessionInfo(n, IPS[c], "10.0.0.1")
                         for n, c in enumerate(CHASSIS, 1)}
        self.sent: list[Outputs] = []
        self._ofports = {c: itertools.count(FIRST_VM_OFPORT) for c in CHASSIS}
        for chassis in CHASSIS:
            self.databases[chassis].build_neutron_bridges(self.specs[chassis])
            self.seen(chassis, first=True)
        for chassis in CHASSIS:
            self._bridges_up(chassis)

    def _use(self, controller: core.Core) -> None:
        self.core = controller
        self.engine, self.planner = controller.engine, controller.planner
        self.model, self.topology = self.engine.model, controller.topology
        self.local_vlans, self.dvr_macs = self.planner.local_vlans, self.engine.dvr_macs

    def restart(self, chassis: tuple[str, ...] = CHASSIS) -> core.Core:
        """A controller started on the cloud's database after a kill -9, once it has seen
        these hypervisors' databases and bridges (the others stay away); it replaces the
        cloud's."""
        self.model.store.close()
        self._use(core.build(self.core.settings))
        for name in chassis:
            self.core.ovsdb_seen(self.sessions[name], self._read_afresh(name), True)
        for name in chassis:
            self._bridges_up(name)
        self.flush()
        return self.core

    def switch_off(self, chassis: str) -> None:
        """The hypervisor is switched off: its OVSDB session and its bridges drop."""
        self.core.ovsdb_closed(self.sessions[chassis].id)
        for role in self.roles:
            self.core.datapath_down(dpid(chassis, role))

    def reconnect(self, chassis: str) -> Outputs:
        """A hypervisor switched off is back: its OVSDB session, then its bridges."""
        outputs = self.seen(chassis, first=True)
        self._bridges_up(chassis)
        return outputs.merge(self.flush())

    def _read_afresh(self, chassis: str) -> Replica:
        replica = self.databases[chassis].replica   # a new session reads every row
        replica.touched.update(("Bridge", uuid) for uuid, _ in replica.rows("Bridge"))
        return replica

    def _bridges_up(self, chassis: str) -> None:
        for role in self.roles:
            self.take(self.core.datapath_up(dpid(chassis, role)))

    # ---------------------------------------------------------------- events

    def take(self, outputs: Outputs) -> Outputs:
        self.sent.append(outputs)
        return outputs

    def seen(self, chassis: str, first: bool = False) -> Outputs:
        """The hypervisor's database changed (or was first seen, by a new session that
        reads every row): look, then flush."""
        replica = self._read_afresh(chassis) if first else self.databases[chassis].replica
        outputs, _ = self.core.ovsdb_seen(self.sessions[chassis], replica, first)
        self.take(outputs)
        return Outputs().merge(outputs).merge(self.flush())   # each recorded once

    def flush(self) -> Outputs:
        return self.take(self.core.flush())

    def tick(self) -> Outputs:
        """Time passed, as the shim's ticks: and the flush that may make due."""
        outputs = self.take(self.core.tick())
        return Outputs().merge(outputs).merge(self.flush()) if outputs.flush_due else outputs

    def written(self) -> Outputs:
        """The API's writes so far, handed to the core as the shim does; then flush."""
        self.core.model_changed(self.model.take_changes())
        return self.flush()

    # ------------------------------------------------------------- resources

    def create(self, kind: str, **values: Any) -> dict:
        """A resource as the API would create it, defaults included."""
        parsed = parse_body(kind, RESOURCES[kind], {kind: values}, True)
        created = getattr(self.model, f"create_{kind}")(parsed)
        self.written()
        return created

    def network(self, cidr: str = "10.0.0.0/24", **provider: Any) -> tuple[dict, dict]:
        network = self.create("network", **{f"provider:{k}": v for k, v in provider.items()})
        subnet = self.create("subnet", network_id=network["id"], ip_version=4, cidr=cidr)
        return network, subnet

    def router(self, *subnets: dict) -> dict:
        router = self.create("router", name="r")
        for subnet in subnets:
            self.model.add_router_interface(router["id"], {"subnet_id": subnet["id"]})
            self.written()
        return router

    def update(self, kind: str, resource_id: str, **values: Any) -> dict:
        parsed = parse_body(kind, RESOURCES[kind], {kind: values}, False)
        updated = getattr(self.model, f"update_{kind}")(resource_id, parsed)
        self.written()
        return updated

    def upstream_answers(self, chassis: str, ip: str = UPSTREAM_IP,
                         mac: str = UPSTREAM_MAC, vid: int | None = PUBLIC_VLAN) -> Outputs:
        """The external network's gateway answers an ARP request the chassis sent."""
        return self.from_upstream(chassis, arp.ARP_REPLY, ip, mac, "203.0.113.9", vid)

    def from_upstream(self, chassis: str, opcode: int, ip: str, mac: str, target_ip: str,
                      vid: int | None = PUBLIC_VLAN, in_port: int = INT_PHY) -> Outputs:
        """An ARP frame of the external network's gateway that br-int sends up, as it
        came in by ``in_port`` (br-eth1's patch), in the wire's VLAN ``vid`` (None:
        untagged)."""
        frame = packet.Packet()
        frame.add_protocol(ethernet.ethernet(
            dst="ff:ff:ff:ff:ff:ff", src=mac,
            ethertype=ether_types.ETH_TYPE_8021Q if vid else ether_types.ETH_TYPE_ARP))
        if vid:
            frame.add_protocol(vlan.vlan(vid=vid, ethertype=ether_types.ETH_TYPE_ARP))
        frame.add_protocol(arp.arp(opcode=opcode, src_mac=mac, src_ip=ip,
                                   dst_mac="00:00:00:00:00:00", dst_ip=target_ip))
        frame.serialize()
        return self.take(self.core.packet_in(dpid(chassis, "int"), "action", in_port,
                                             bytes(frame.data)))

    def vm(self, network: dict, chassis: str, **fields: Any) -> dict:
        """A port, and its device plugged on the chassis with its iface-id (which binds
        it); the port as it is then, with ``device`` naming the device."""
        port = self.create("port", network_id=network["id"], **fields)
        device = self.plug(chassis, port["id"])
        return {**self.model.records["port"][port["id"]], "device": device,
                "chassis": chassis}

    def plug(self, chassis: str, iface_id: str | None = None, name: str | None = None) -> str:
        ofport = next(self._ofports[chassis])
        name = name or f"vnet{ofport}"
        self.databases[chassis].add_port("br-int", name, ofport,
                                         external_ids={"iface-id": iface_id} if iface_id else {})
        self.seen(chassis)
        return name

    def unplug(self, chassis: str, name: str) -> Outputs:
        self.databases[chassis].remove_port(name)
        return self.seen(chassis)

    # ------------------------------------------------------------ the switches

    def held(self, chassis: str, role: str) -> dict:
        """What the core sent a bridge and believes it holds: {group: {key: flow}}."""
        return self.engine.bridges[dpid(chassis, role)].groups

    def send(self, vm: dict, packet: dict) -> Result:
        """A packet from a VM's device, walked through the flows the bridges hold."""
        return simulate(self.fabric(), vm["chassis"], "br-int", vm["device"], packet)

    def answers(self, vm: dict, reason: str, frame: bytes, **fields: Any) -> list[Result]:
        """The controller's answers to a frame of the VM's device that a flow sent up
        (``reason`` as the packet-in gives it), each walked from its packet-out with
        ``fields`` added (such as ``ct_state_after``)."""
        bridge = self.topology.bridge(vm["chassis"], "int")
        ofport = self.planner.device_of(bridge, vm).ofport
        outputs = self.take(self.core.packet_in(bridge.dpid, reason, ofport, frame))
        return [inject(self.fabric(), vm["chassis"], "br-int", message.actions,
                       {**frame_fields(message.data), **fields})
                for message in outputs.after_flows.get(bridge.dpid, [])
                if isinstance(message, PacketOut)]

    def fabric(self):
        """The bridges holding what the core sent them (not what it would compute now)."""
        return trace.fabric(self.planner, self.engine.held(), self.engine.tags)

    def trace(self, **params: str) -> dict:
        return trace.trace(self.planner, params, self.engine.held(), self.engine.tags)


def every_kind_of_network(cloud: FakeCloud) -> None:
    """VXLAN, GRE, VLAN and flat networks on every hypervisor, a distributed router
    between a VXLAN and a VLAN network, ports with address pairs or without port
    security, a port of a group with port rules and a remote group, and a device that is
    no port."""
    vxlan, vxlan_subnet = cloud.network()
    gre, _ = cloud.network("10.2.0.0/24", network_type="gre")
    vlan_net, vlan_subnet = cloud.network("10.1.0.0/24", network_type="vlan",
                                          physical_network="physnet1", segmentation_id=120)
    flat, _ = cloud.network("10.3.0.0/24", network_type="flat", physical_network="physnet1")
    router = cloud.router(vxlan_subnet, vlan_subnet)
    for network in (vxlan, gre, vlan_net, flat):
        for chassis in CHASSIS:
            cloud.vm(network, chassis)
    cloud.vm(vxlan, "n0", port_security_enabled=False)
    cloud.vm(vxlan, "n1", allowed_address_pairs=[
        {"ip_address": "10.0.0.128/25", "mac_address": "fa:16:3e:00:00:99"}])
    cloud.plug("n2", "0a0b0c0d-not-a-port")
    web = cloud.create("security_group", name="web")   # and every port the default group
    for direction, protocol, remote in (("ingress", "tcp", None), ("egress", "udp", web["id"])):
        cloud.create("security_group_rule", security_group_id=web["id"], direction=direction,
                     protocol=protocol, port_range_min=22, port_range_max=22,
                     remote_group_id=remote)
    cloud.vm(vxlan, "n2", security_groups=[web["id"]])
    north_south(cloud, router, vxlan)


def north_south(cloud: FakeCloud, router: dict, network: dict) -> dict:
    """An external VLAN network on physnet1, the router's gateway on it (SNAT on n2, the
    dvr_snat hypervisor), a floating IP for a VM of ``network`` on n0, and the upstream
    gateway's MAC resolved; the floating IP."""
    public, _ = cloud.network("203.0.113.0/24", network_type="vlan",
                              physical_network="physnet1", segmentation_id=PUBLIC_VLAN)
    cloud.update("network", public["id"], **{"router:external": True})
    cloud.update("router", router["id"], external_gateway_info={"network_id": public["id"]})
    vm = cloud.vm(network, "n0")
    fip = cloud.create("floatingip", floating_network_id=public["id"], port_id=vm["id"])
    for chassis in ("n2", "n0"):
        cloud.upstream_answers(chassis)
    return fip


def scoped_router(cloud: FakeCloud) -> tuple[dict, dict, dict, dict]:
    """A router joining a network of address scope ``corp`` (its subnet from pool
    10.5.0.0/16) and an unscoped one (10.6.0.0/24): the pool, the scoped network, the
    unscoped one and the router."""
    scope = cloud.create("address_scope", name="corp", ip_version=4)
    pool = cloud.create("subnetpool", name="corp", prefixes=["10.5.0.0/16"],
                        default_prefixlen=24, address_scope_id=scope["id"])
    scoped = cloud.create("network")
    scoped_subnet = cloud.create("subnet", network_id=scoped["id"], ip_version=4,
                                 subnetpool_id=pool["id"])
    plain, plain_subnet = cloud.network("10.6.0.0/24")
    return pool, scoped, plain, cloud.router(scoped_subnet, plain_subnet)


def expired_echo(vm: dict, gateway_mac: str, target_ip: str) -> bytes:
    """The VM's ping to an address behind its gateway, as the switch sends it up when a
    route's dec_ttl finds its TTL at 1."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=gateway_mac, src=vm["mac_address"]))
    frame.add_protocol(ipv4.ipv4(src=vm["fixed_ips"][0]["ip_address"], dst=target_ip, ttl=1,
                                 proto=1))
    frame.add_protocol(icmp.icmp(data=icmp.echo(id_=1, seq=1, data=b"ping")))
    frame.serialize()
    return bytes(frame.data)


def frame_fields(data: bytes) -> dict:
    """An Ethernet frame (IPv4, ICMP) as the simulator's packet dict."""
    parsed = packet.Packet(data)
    eth = parsed.get_protocol(ethernet.ethernet)
    fields: dict[str, Any] = {"eth_src": eth.src, "eth_dst": eth.dst, "eth_type": eth.ethertype}
    if (header := parsed.get_protocol(ipv4.ipv4)) is not None:
        fields.update(ipv4_src=header.src, ipv4_dst=header.dst, ip_proto=header.proto,
                      nw_ttl=header.ttl)
    if (message := parsed.get_protocol(icmp.icmp)) is not None:
        fields.update(icmpv4_type=message.type, icmpv4_code=message.code)
    return fields
