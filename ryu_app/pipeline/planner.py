"""What every bridge should hold, from the tenant model, the topology and the local
VLANs (pure: no Ryu, no I/O).

A bridge's flows come in groups, so that an event recomputes only what it touches:
``BASE`` (the start-up tables, plus what depends on the bridge's patch and tunnel
ports), one group per network (its local VLAN translation, flooding, l2pop and ARP
responder entries) and, on br-int, one group per VM device (anti-spoofing, or the
dead-port drop).  A network's group on a chassis is empty unless the chassis has a
bound port on it: that is l2population.
"""
from __future__ import annotations


from ryu_app.binding import port_of_device
from ryu_app.dhcp.leases import served_address
from ryu_app.gateway_failover import GatewayFailover
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.local_vlans import LocalVlans
from ryu_app.model.nat_zones import NatZones
from ryu_app.model.neighbours import Neighbours
from ryu_app.model.north_south import SNAT_OWNER
from ryu_app.model.segments import PROVIDER_TYPES
from ryu_app.model.tenant import ROUTER_INTERFACE_OWNERS, NetworkModel, is_bound_vm_port
from ryu_app.pipeline.addresses import allowed_macs, allowed_sources, ipv4_fixed_ips, ipv4s
from ryu_app.pipeline import br_int, br_phys, br_tun, security
from ryu_app.pipeline.nat_planner import NatPlanner
from ryu_app.pipeline.security_planner import SECURITY, SecurityPlanner
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import ETH_TYPE_8021Q, Flow, vlan
from topology.graph import Bridge, Topology
from topology.naming import TUNNEL_TYPES, PortInfo

Group = tuple
BASE: Group = ("base",)
DVR_OWNER = ROUTER_INTERFACE_OWNERS[1]  # network:router_interface_distributed
ANNOUNCED_FIELDS = ("device_owner", "mac_address", "fixed_ips")


def network_group(network_id: str) -> Group:
    return ("net", network_id)


def remote_port_group(network_id: str, port_id: str) -> Group:
    """A remote port's l2pop entries on a tunnel bridge."""
    return ("remote", network_id, port_id)


def device_group(device_name: str) -> Group:
    return ("dev", device_name)


def is_device_group(group: Group) -> bool:
    return group[0] == "dev"


def router_group(router_id: str) -> Group:
    """A router's SNAT on br-int (of its SNAT hypervisor)."""
    return ("router", router_id)


def floatingip_group(fip_id: str) -> Group:
    """A floating IP's NAT and ARP on br-int (of its VM's hypervisor)."""
    return ("fip", fip_id)


class Planner:
    def __init__(self, model: NetworkModel, topology: Topology, local_vlans: LocalVlans,
                 dvr_macs: DvrMacs, dhcp_port_rate: int, dhcp_bridge_rate: int,
                 zones: NatZones, neighbours: Neighbours, failover: GatewayFailover):
        self.model = model
        self.dhcp_port_rate = dhcp_port_rate        # DHCP requests/s a VM port may send
        self.dhcp_bridge_rate = dhcp_bridge_rate    # ... and a whole br-int
        self.topology = topology
        self.local_vlans = local_vlans
        self.dvr_macs = dvr_macs
        self.nat = NatPlanner(self, zones, neighbours, failover)
        self.security = SecurityPlanner(self)

    # ----------------------------------------------------------- who is where

    def ports_by_chassis(self, network_id: str) -> dict[str, list[dict]]:
        """The network's bound VM ports, per chassis they are bound on."""
        records = self.model.records["port"]
        return {host: [records[port_id] for port_id in port_ids]
                for host, port_ids in self.model.bound_on.get(network_id, {}).items()
                if host in self.topology.chassis}

    def device_port(self, chassis: str, device: PortInfo) -> dict | None:
        """The port a VM device on this chassis stands for, if it is bound here and the
        device is its newest one here (a replaced device not yet removed is dead)."""
        port = port_of_device(self.model, device)
        if port is None or not is_bound_vm_port(port, chassis):
            return None
        current = self.topology.devices_of(port["id"]).get(chassis)
        return port if current is not None and current.name == device.name else None

    def hosting_chassis(self, network_id: str) -> set[str]:
        """Chassis that need the network: those with a port on it and, as DVR routes on the
        source chassis, those with a port on another network of one of its routers."""
        hosting = set(self.ports_by_chassis(network_id)) | self.nat.extra_hosting(network_id)
        for other in self.routed_with(network_id) - {network_id}:
            hosting |= set(self.ports_by_chassis(other))
        return hosting

    def router_is_up(self, router_id: str) -> bool:
        """admin_state_up: a router set down routes nothing anywhere (Neutron's L3 agents
        remove it from every host), though its interfaces stay."""
        router = self.model.records["router"].get(router_id)
        return router is not None and router.get("admin_state_up", True)

    def dvr_interfaces(self, router_id: str) -> list[dict]:
        """The interfaces a distributed router routes between (none while it is down)."""
        if not self.router_is_up(router_id):
            return []
        return [port for port_id in self.model.interfaces_of.get(router_id, ())
                if (port := self.model.records["port"][port_id])["device_owner"] == DVR_OWNER]

    def routers_on(self, network_id: str) -> set[str]:
        return {port["device_id"] for port in self._dvr_gateways(network_id)}

    def routed_with(self, network_id: str) -> set[str]:
        """The networks that share a distributed router with this one (itself included)."""
        return {port["network_id"] for router in self.routers_on(network_id)
                for port in self.dvr_interfaces(router)}

    def affected_networks(self, port: dict) -> set[str]:
        """The networks whose flows a change of this port can move: none for a port that
        is neither a bound VM port nor a router interface (no flow names it)."""
        if not (is_bound_vm_port(port) or port["device_owner"] in ROUTER_INTERFACE_OWNERS
                or port["device_owner"] == SNAT_OWNER):
            return set()
        networks = {port["network_id"]}
        if port["device_owner"] == DVR_OWNER:
            networks |= {p["network_id"] for p in self.dvr_interfaces(port["device_id"])}
        for network_id in list(networks):
            networks |= self.routed_with(network_id)
        return networks

    def devices_of(self, port: dict) -> list[tuple[str, PortInfo]]:
        """(chassis, device) of each device on an integration bridge standing for the port."""
        return sorted(self.topology.devices_of(port["id"]).items())

    def tunnels_wanted(self, chassis: str) -> set[tuple[str, str]]:
        """(tunnel type, remote chassis) for every chassis that serves a VXLAN or GRE
        network this one serves: l2population's tunnels, made when two chassis first
        share a network and removed when they share none."""
        wanted = set()
        for network_id in self.local_vlans.networks_on(chassis):
            network = self.model.records["network"].get(network_id)
            kind = network["provider:network_type"] if network else None
            if kind in TUNNEL_TYPES:
                wanted |= {(kind, other) for other in self.local_vlans.chassis_of(network_id)
                           if other != chassis and other in self.topology.chassis}
        return wanted

    # --------------------------------------------------------------- a bridge

    def bridge_groups(self, bridge: Bridge) -> dict[Group, list[Flow]]:
        """Every group of one bridge, as it should hold them now."""
        groups = {BASE: self.base_flows(bridge)}
        for network_id in self.local_vlans.networks_on(bridge.chassis):
            groups[network_group(network_id)] = self.network_flows(bridge, network_id)
            for port_id, flows in self.remote_ports(bridge, network_id).items():
                groups[remote_port_group(network_id, port_id)] = flows
        if bridge.role == "int":
            groups[SECURITY] = self.security.bridge_flows(bridge)
            groups.update(self.security.member_groups(bridge))
            for device in self.vm_devices(bridge):
                groups[device_group(device.name)] = self.device_flows(bridge, device)
            for router_id in self.nat.gateway_routers():
                groups[router_group(router_id)] = self.nat.router_flows(bridge, router_id)
            for fip in self.nat.served_floatingips():
                groups[floatingip_group(fip["id"])] = self.nat.fip_flows(bridge, fip["id"])
        return groups

    def vm_devices(self, bridge: Bridge) -> list[PortInfo]:
        return [port for port in self.topology.ports(bridge.dpid) if port.kind == "vm"]

    def base_flows(self, bridge: Bridge) -> list[Flow]:
        """The start-up tables of the bridge's role, wired to its patch and tunnel ports."""
        remote_dvr_macs = tuple(mac for chassis, mac in sorted(self.dvr_macs.all().items())
                                if chassis != bridge.chassis)
        if bridge.role == "int":
            int_phy = [port.ofport for phys in self.topology.bridges_of(bridge.chassis)
                       if phys.role == "phys" and (port := self.patch(bridge, phys))]
            patch_tun = self.patch(bridge, self.topology.bridge(bridge.chassis, "tun"))
            return br_int.default_flows(int_phy, self.dhcp_bridge_rate) + br_int.dvr_default_flows(
                patch_tun.ofport if patch_tun else None, int_phy, remote_dvr_macs) + \
                security.default_flows()
        if bridge.role == "tun":
            patch_int = self.patch(bridge, self.topology.bridge(bridge.chassis, "int"))
            if patch_int is None:
                return []  # not wired to br-int (yet): nothing enters, table-miss drops
            tunnels = [p for p in self.topology.ports(bridge.dpid) if p.kind == "tunnel"]
            return br_tun.default_flows(patch_int.ofport, remote_dvr_macs) + [
                br_tun.tunnel_port_flow(p.ofport, p.tunnel_type) for p in tunnels]
        phy_int = self.patch(bridge, self.topology.bridge(bridge.chassis, "int"))
        return br_phys.default_flows(phy_int.ofport) if phy_int else []

    def patch(self, bridge: Bridge, towards: Bridge | None) -> PortInfo | None:
        return self.topology.patch_port(bridge, towards) if towards else None

    # ------------------------------------------------------------- a network

    def network_flows(self, bridge: Bridge, network_id: str) -> list[Flow]:
        """The network's flows on one bridge; none unless the chassis hosts it."""
        network = self.model.records["network"].get(network_id)
        lvid = self.local_vlans.get(bridge.chassis, network_id)
        if network is None or lvid is None:
            return []
        kind = network["provider:network_type"]
        segmentation_id = network["provider:segmentation_id"]
        gateways = self._dvr_gateways(network_id)
        dvr_mac = self.dvr_macs.get(bridge.chassis)
        flows: list[Flow] = []
        if bridge.role == "int":
            flows += self._routing_flows(bridge, network, lvid)
            flows += self._dhcp_server_flows(network_id, lvid)
            flows += self.nat.external_network_flows(bridge, network)
        if kind in TUNNEL_TYPES and bridge.role == "tun":
            flows += br_tun.segment_flows(self.tunnel_segment(bridge, network, lvid))
            for gateway in gateways:
                flows += br_tun.dvr_interface_flows(lvid, gateway["mac_address"], dvr_mac)
        if kind in PROVIDER_TYPES:
            phys = self.topology.bridge(bridge.chassis, "phys",
                                        network["provider:physical_network"])
            integration = self.topology.bridge(bridge.chassis, "int")
            if bridge.role == "int" and phys and (int_phy := self.patch(bridge, phys)):
                flows.append(br_int.provider_in_flow(int_phy.ofport, segmentation_id, lvid))
            if bridge == phys and (phy_int := self.patch(bridge, integration)):
                flows.append(br_phys.provider_out_flow(phy_int.ofport, lvid, segmentation_id))
                for gateway in gateways:
                    flows += br_phys.dvr_interface_flows(phy_int.ofport, lvid, segmentation_id,
                                                         gateway["mac_address"], dvr_mac)
        return flows

    def _dhcp_server_flows(self, network_id: str, lvid: int) -> list[Flow]:
        """br-int: ARP for the network's DHCP server answered for the VMs here."""
        server = self.model.dhcp_port_of(network_id)
        return [br_int.dhcp_server_arp_flow(lvid, ip, server["mac_address"])
                for ip in ipv4s(server)] if server else []

    def _dvr_gateways(self, network_id: str) -> list[dict]:
        """The network's distributed router interface ports."""
        return self._interfaces_on(network_id, (DVR_OWNER,))

    def _interfaces_on(self, network_id: str, owners: tuple[str, ...]) -> list[dict]:
        """The network's interface ports, with one of these device owners, of routers
        that are up."""
        return [port for port_id in self.model.interfaces_on.get(network_id, ())
                if (port := self.model.records["port"][port_id])["device_owner"] in owners
                and self.router_is_up(port["device_id"])]

    # ------------------------------------------------------------ DVR routing

    def gateway_ip(self, gateway_mac: str) -> str | None:
        """The IP of the distributed router interface with this MAC (one per interface)."""
        for router_id in self.model.interfaces_of:
            for port in self.dvr_interfaces(router_id):
                if port["mac_address"] == gateway_mac and (addresses := ipv4s(port)):
                    return addresses[0]
        return None

    def gateway_announcements(self, old: dict | None,
                              new: dict | None) -> list[tuple[int, int, str, str, None]]:
        """(br-int dpid, VM ofport, gateway IP, gateway MAC, no VLAN) for each local VM that should
        hear a gratuitous ARP because a distributed router interface on its network came
        or changed address: a VM that knew the gateway IP by another MAC moves at once."""
        if new is None or new["device_owner"] != DVR_OWNER or not ipv4s(new):
            return []
        if old is not None and all(old[key] == new[key] for key in ANNOUNCED_FIELDS):
            return []
        ip, mac = ipv4s(new)[0], new["mac_address"]
        found = []
        for chassis, ports in self.ports_by_chassis(new["network_id"]).items():
            bridge = self.topology.bridge(chassis, "int")
            found += [(bridge.dpid, device.ofport, ip, mac, None)
                      for port in ports if bridge and (device := self.device_of(bridge, port))]
        return found

    def _routing_flows(self, bridge: Bridge, network: dict, lvid: int) -> list[Flow]:
        """br-int flows of DVR on one chassis for one routed network: its gateway's ARP,
        pings to the router's addresses, routes to every VM address in the subnets of the
        router's other interfaces (on other networks in its address scope, or on another
        subnet of this network), the drop of what is unrouted, and delivery of what other
        chassis routed to its VMs here."""
        flows = []
        gateways = self._dvr_gateways(network["id"])
        for gateway in gateways:
            gateway_mac = gateway["mac_address"]
            flows += [br_int.gateway_arp_flow(lvid, ip, gateway_mac) for ip in ipv4s(gateway)]
            flows.append(br_int.unrouted_drop_flow(lvid, gateway_mac))
            for interface in self.dvr_interfaces(gateway["device_id"]):
                for ip in ipv4s(interface):
                    flows += br_int.gateway_echo_flows(lvid, gateway_mac, ip)
                if interface["id"] != gateway["id"] and self._routes_between(
                        network["id"], interface["network_id"]):
                    flows += self._routes_into(bridge, lvid, gateway_mac, interface)
            flows += self.nat.tenant_flows(bridge, network, lvid, gateway)
        return flows + self._deliveries(bridge, network, gateways)

    def _routes_between(self, source: str, destination: str) -> bool:
        """A router routes between two of its networks only within one address scope
        (unscoped networks being one scope), as Neutron's L3 agent keeps scopes apart;
        what it does not route, the unrouted drop takes.  Two subnets of one network are
        routed to each other (a client without their on-link routes sends to its
        gateway)."""
        return (self.model.network_address_scope(source)
                == self.model.network_address_scope(destination))

    def _routes_into(self, bridge: Bridge, lvid: int, gateway_mac: str,
                     interface: dict) -> list[Flow]:
        """Table 60 routes from one network (lvid, its gateway MAC) to each VM address
        behind another interface of the router."""
        return [br_int.route_flow(lvid, gateway_mac, ip, interface["mac_address"],
                                  port["mac_address"], delivery)
                for ip, port, delivery in self.addresses_behind(bridge, interface)]

    def addresses_behind(self, bridge: Bridge,
                         interface: dict) -> list[tuple[str, dict, tuple]]:
        """(IP, VM port, how this chassis delivers to it) of each VM address behind a
        router interface: on its network and in one of its subnets.  Another subnet of
        that network is not the router's (it has no address there, as in Neutron), so
        nothing is routed into it."""
        subnets = {ip["subnet_id"] for ip in interface["fixed_ips"]}
        found = []
        towards = self.delivery(bridge, interface["network_id"])
        for chassis, ports in self.ports_by_chassis(interface["network_id"]).items():
            for port in ports:
                delivery = (self.local_output(bridge, port) if chassis == bridge.chassis
                            else towards)
                if delivery:
                    found += [(ip["ip_address"], port, delivery) for ip in ipv4_fixed_ips(port)
                              if ip["subnet_id"] in subnets]
        return found

    def delivery(self, bridge: Bridge, network_id: str) -> tuple | None:
        """How br-int sends a routed frame towards another chassis on a network: tagged with
        this chassis' local VLAN for it, out of the patch to br-tun or to its br-ethX.  A
        routed frame is a new frame: its in_port is cleared, as it may leave by the patch
        it came in by (a VLAN network's frame SNATed onto an external network of the same
        physical network), which OVS would otherwise drop as a hairpin."""
        network = self.model.records["network"][network_id]
        lvid = self.local_vlans.get(bridge.chassis, network_id)
        if network["provider:network_type"] in TUNNEL_TYPES:
            towards = self.topology.bridge(bridge.chassis, "tun")
        else:
            towards = self.topology.bridge(bridge.chassis, "phys",
                                           network["provider:physical_network"])
        patch = self.patch(bridge, towards)
        if lvid is None or patch is None:
            return None
        return (("push_vlan", ETH_TYPE_8021Q), ("set_field", "vlan_vid", vlan(lvid)),
                ("set_field", T.SETTABLE_IN_PORT, br_int.NO_PORT), ("output", patch.ofport))

    def local_output(self, bridge: Bridge, port: dict) -> tuple | None:
        """How a routed frame reaches a VM port here (through its security groups)."""
        return self.security.delivery(bridge, port)

    def device_of(self, bridge: Bridge, port: dict) -> PortInfo | None:
        return self.topology.devices_of(port["id"]).get(bridge.chassis)

    def routed_entry(self, bridge: Bridge, network: dict) -> br_int.RoutedEntry | None:
        """Where what another chassis routed onto the network comes into this br-int's
        DVR tables; None for a physical network whose bridge is not patched here."""
        if network["provider:network_type"] in TUNNEL_TYPES:
            return br_int.RoutedEntry(T.INT_DVR_TO_SRC_MAC,
                                      self.local_vlans.get(bridge.chassis, network["id"]))
        phys = self.topology.bridge(bridge.chassis, "phys", network["provider:physical_network"])
        int_phy = self.patch(bridge, phys)
        if int_phy is None:
            return None
        return br_int.RoutedEntry(T.INT_DVR_TO_SRC_MAC_PHYSICAL,
                                  network["provider:segmentation_id"], int_phy.ofport)

    def _deliveries(self, bridge: Bridge, network: dict, gateways: list[dict]) -> list[Flow]:
        """Tables 1/2: what another chassis routed to this chassis' VMs on the network gets
        as source the gateway of the VM's own subnet (its first address's that has one,
        as the match is the VM's MAC alone), whichever router interface it came by."""
        entry = self.routed_entry(bridge, network)
        ports = self.ports_by_chassis(network["id"]).get(bridge.chassis, []) if entry else []
        gateway_of = {ip["subnet_id"]: gateway["mac_address"]       # one router per subnet
                      for gateway in gateways for ip in gateway["fixed_ips"]}
        flows = []
        for port in ports:
            gateway_mac = next((gateway_of[ip["subnet_id"]] for ip in port["fixed_ips"]
                                if ip["subnet_id"] in gateway_of), None)
            if gateway_mac and (delivery := self.local_output(bridge, port)):
                flows.append(br_int.dvr_delivery_flow(entry, port["mac_address"],
                                                      gateway_mac, delivery))
        return flows

    def tunnel_segment(self, bridge: Bridge, network: dict, lvid: int) -> br_tun.TunnelSegment:
        """The per-network br-tun state of ../shared/seeds/001_*.txt on one chassis, from
        l2population: the tunnels to flood to, and ARP for the router's gateways.  Each
        remote port's own entries are a group of their own (``remote_port_flows``)."""
        tunnel_type = network["provider:network_type"]
        flood = set()
        for chassis in self.ports_by_chassis(network["id"]):
            tunnel = self.topology.tunnel_port(bridge.chassis, chassis, tunnel_type)
            if chassis != bridge.chassis and tunnel is not None:
                flood.add(tunnel.ofport)
        return br_tun.TunnelSegment(
            lvid=lvid, segmentation_id=network["provider:segmentation_id"],
            tunnel_type=tunnel_type, flood_ports=tuple(sorted(flood)),
            gateways=tuple(sorted(self._gateway_addresses(network["id"]))))

    def remote_port_flows(self, bridge: Bridge, network_id: str,
                          port: dict | None) -> list[Flow]:
        """l2pop's entries on a tunnel bridge for one port of a tunnelled network: none
        unless the port is a bound VM port on another chassis that a tunnel reaches."""
        network = self.model.records["network"].get(network_id)
        lvid = self.local_vlans.get(bridge.chassis, network_id)
        where = self.port_location(port) if port is not None else None
        if (bridge.role != "tun" or network is None or lvid is None or where is None
                or network["provider:network_type"] not in TUNNEL_TYPES
                or where == bridge.chassis or where not in self.topology.chassis):
            return []
        tunnel = self.topology.tunnel_port(bridge.chassis, where,
                                           network["provider:network_type"])
        if tunnel is None:
            return []
        segment = br_tun.TunnelSegment(lvid=lvid,
                                       segmentation_id=network["provider:segmentation_id"],
                                       tunnel_type=network["provider:network_type"])
        return br_tun.remote_port_flows(segment, port["mac_address"], tunnel.ofport,
                                        ipv4s(port))

    def port_location(self, port: dict) -> str | None:
        """The hypervisor a port lives on: a bound VM port's host; a router's sg- port's
        SNAT hypervisor (Neutron binds it there)."""
        if is_bound_vm_port(port):
            return port["binding:host_id"]
        if port["device_owner"] == SNAT_OWNER:
            return self.nat.snat_port_location(port)
        return None

    def ports_at(self, network_id: str, chassis: str) -> list[dict]:
        """The network's ports that live on a chassis: VM ports and routers' sg- ports."""
        return self.ports_by_chassis(network_id).get(chassis, []) + [
            port for port in self.nat.snat_ports_on(network_id)
            if self.nat.snat_port_location(port) == chassis]

    def remote_ports(self, bridge: Bridge, network_id: str) -> dict[str, list[Flow]]:
        """{port id: its l2pop entries} for the network's remote ports on a tunnel bridge
        (its VM ports and its routers' sg- ports)."""
        if bridge.role != "tun":
            return {}
        ports = [port for chassis, ports in self.ports_by_chassis(network_id).items()
                 if chassis != bridge.chassis for port in ports]
        found = {}
        for port in ports + self.nat.snat_ports_on(network_id):
            flows = self.remote_port_flows(bridge, network_id, port)
            if flows:
                found[port["id"]] = flows
        return found

    def _gateway_addresses(self, network_id: str) -> list[tuple[str, str]]:
        """(gateway IP, router interface MAC) of the network's routed subnets."""
        return [(ip, port["mac_address"])
                for port in self._interfaces_on(network_id, ROUTER_INTERFACE_OWNERS)
                for ip in ipv4s(port)]

    # -------------------------------------------------------------- a device

    def device_flows(self, bridge: Bridge, device: PortInfo) -> list[Flow]:
        """br-int flows of one VM device: anti-spoofing and DHCP when it is a bound port
        with port security, DHCP only without, the dead-port drop when it is no bound
        port."""
        port = self.device_port(bridge.chassis, device)
        lvid = self.local_vlans.get(bridge.chassis, port["network_id"]) if port else None
        if lvid is None:
            return self.dead_device_flows(device)
        rate = self.dhcp_port_rate if served_address(self.model, port) else None
        tagged = br_int.tagged_from_vm_flows(device.ofport)
        if not port.get("port_security_enabled", True):
            # No filtering at all: only what DHCP serves is answered here; the rest
            # (a DHCP server of the tenant's own) passes.
            dhcp = [br_int.dhcp_request_flow(device.ofport, None, rate)] if rate else []
            return tagged + [br_int.open_port_flow(device.ofport, lvid)] + dhcp
        senders = allowed_sources(port)
        dhcp = ([br_int.dhcp_request_flow(device.ofport, port["mac_address"], rate)] if rate
                else br_int.dhcp_client_flows(device.ofport, lvid, port["mac_address"], senders))
        return (tagged + br_int.port_security_flows(device.ofport, lvid, senders,
                                                    allowed_macs(port))
                + dhcp + [br_int.dhcp_server_drop_flow(device.ofport)]
                + self.security.port_flows(bridge, port))

    @staticmethod
    def dead_device_flows(device: PortInfo) -> list[Flow]:
        """What a VM device that must pass nothing holds (no bound port's, or one whose
        own flows could not be installed): the drop."""
        return [br_int.dead_port_flow(device.ofport)]

    def device_tag(self, chassis: str, device: PortInfo) -> int:
        """The access tag of a VM device: its network's local VLAN, or the dead VLAN."""
        port = self.device_port(chassis, device)
        vid = self.local_vlans.get(chassis, port["network_id"]) if port else None
        return T.DEAD_VLAN if vid is None else vid


