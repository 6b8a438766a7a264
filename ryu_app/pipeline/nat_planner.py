"""What br-int should hold for north-south, from the model (pure): where each router's
SNAT runs, which hypervisors must host which networks for it, and the flows of
ryu_app/pipeline/nat.py for each router, floating IP and routed network.

A router's SNAT runs on one ``dvr_snat`` hypervisor that maps its external network's
physical network: the one that ranks highest for the router (rendezvous hashing of
router id and hypervisor name), so that routers spread over the gateway hypervisors and
only the routers of one that goes away move.  A floating IP is served by the
hypervisor its VM's port is bound on, through that hypervisor's br-ex and fg- port.
"""
from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING

from ryu_app.gateway_failover import GatewayFailover
from ryu_app.model.neighbours import Neighbours
from ryu_app.model.nat_zones import NatZones
from ryu_app.model.tenant import is_bound_vm_port
from ryu_app.pipeline.addresses import ipv4s
from ryu_app.pipeline import br_int, nat
from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import Flow
from topology.graph import Bridge
from topology.naming import TUNNEL_TYPES

if TYPE_CHECKING:
    from ryu_app.pipeline.planner import Planner

SNAT_MODE = "dvr_snat"



def _rank(router_id: str, chassis: str) -> bytes:
    return hashlib.sha1(f"{router_id}/{chassis}".encode()).digest()


class NatPlanner:
    def __init__(self, planner: "Planner", zones: NatZones, neighbours: Neighbours,
                 failover: GatewayFailover):
        self.planner = planner
        self.model = planner.model
        self.topology = planner.topology
        self.zones = zones
        self.neighbours = neighbours
        # gateway hypervisors down too long: passed over (the engine tells it who is up)
        self.failover = failover

    # ----------------------------------------------------------- who is where

    def gateway_network(self, router_id: str) -> dict | None:
        router = self.model.records["router"].get(router_id)
        info = router["external_gateway_info"] if router else None
        return self.model.records["network"].get(info["network_id"]) if info else None

    def snat_chassis(self, router_id: str) -> str | None:
        """The hypervisor that does the router's SNAT and answers for its gateway address:
        a gateway node on the external network's physnet, in one of the router's hinted
        availability zones if it has hints (none there: no SNAT, as Neutron's AZ-aware
        scheduler leaves such a router unscheduled).  Gateway nodes down too long are
        passed over (ryu_app/gateway_failover.py); if every candidate is, the router
        stays on the one down the shortest time."""
        network = self.gateway_network(router_id)
        if network is None:
            return None
        physnet = network["provider:physical_network"]
        hints = self.model.records["router"][router_id].get("availability_zone_hints")
        candidates = [name for name in self.gateway_hypervisors()
                      if physnet in (spec := self.topology.chassis[name]).bridge_mappings
                      and (not hints or spec.availability_zone in hints)]
        return max(self.failover.ranked(candidates), key=lambda name: _rank(router_id, name),
                   default=None)

    def gateway_hypervisors(self) -> list[str]:
        """The hypervisors that may run routers' SNAT (``dvr_snat``)."""
        return [name for name, spec in self.topology.chassis.items()
                if spec.agent_mode == SNAT_MODE]

    def gateway_routers(self) -> list[str]:
        return [router_id for router_id, router in self.model.records["router"].items()
                if router["external_gateway_info"] is not None]

    def served_floatingips(self) -> list[dict]:
        return [fip for fip in self.model.records["floatingip"].values() if fip["port_id"]]

    def extra_hosting(self, network_id: str) -> set[str]:
        """Hypervisors that need the network for north-south: an external network where
        it has a router's SNAT or an fg- port; a routed one where its routers' SNAT is."""
        network = self.model.records["network"].get(network_id)
        if network is None:
            return set()
        if network["router:external"]:
            hosting = {host for (net, host) in self.model.fip_gateways if net == network_id}
            routers = [r for r in self.gateway_routers()
                       if self.gateway_network(r)["id"] == network_id]
        else:
            hosting = set()
            routers = [r for r in self.planner.routers_on(network_id)
                       if self.gateway_network(r) is not None]
        hosting |= {chassis for router_id in routers
                    if (chassis := self.snat_chassis(router_id)) is not None}
        return hosting & set(self.topology.chassis)

    def snat_port_location(self, port: dict) -> str | None:
        return self.snat_chassis(port["device_id"])

    def snat_ports_on(self, network_id: str) -> list[dict]:
        return [port for router_id in self.planner.routers_on(network_id)
                if (port := self.model.snat_port_of(router_id, network_id)) is not None]

    def external(self, bridge: Bridge, network_id: str) -> nat.External | None:
        """How this hypervisor's br-int reaches the external network, if it does."""
        network = self.model.records["network"].get(network_id)
        if network is None or network["provider:network_type"] in TUNNEL_TYPES:
            return None
        phys = self.topology.bridge(bridge.chassis, "phys", network["provider:physical_network"])
        patch = self.planner.patch(bridge, phys) if phys else None
        delivery = self.planner.delivery(bridge, network_id)
        lvid = self.planner.local_vlans.get(bridge.chassis, network_id)
        if patch is None or delivery is None or lvid is None:
            return None
        return nat.External(patch.ofport, network["provider:segmentation_id"], lvid, delivery)

    def _upstream(self, network_id: str, port: dict) -> tuple[str, str | None] | None:
        """(gateway IP, its MAC if resolved) of the external subnet of a qg-/fg- port."""
        for ip in port["fixed_ips"]:
            subnet = self.model.records["subnet"].get(ip["subnet_id"])
            if subnet and subnet["gateway_ip"]:
                return subnet["gateway_ip"], self.neighbours.get(network_id, subnet["gateway_ip"])
        return None

    # ----------------------------------------------- a routed tenant network

    def tenant_flows(self, bridge: Bridge, network: dict, lvid: int, gateway: dict) -> list[Flow]:
        """br-int flows of one routed network whose router has a gateway: on every
        hypervisor the drop of the router's own addresses it does not route (unknown
        ones, another address scope's), whatever its SNAT, since neither SNAT nor a
        floating IP may take them outside; the redirect to the sg- port, and the entry
        into SNAT on the SNAT hypervisor: with SNAT, or without it for a network of the
        external network's address scope, which the router then routes out as it is."""
        router_id = gateway["device_id"]
        router = self.model.records["router"].get(router_id)
        if router is None or router["external_gateway_info"] is None:
            return []
        gateway_mac = gateway["mac_address"]
        flows = self._connected_drops(router_id, lvid, gateway_mac)
        snat_port = self.model.snat_port_of(router_id, network["id"])
        where = self.snat_chassis(router_id)
        if snat_port is None or where is None or not (
                router["external_gateway_info"]["enable_snat"]
                or self._routes_out(router_id, network["id"])):
            return flows
        snat_mac = snat_port["mac_address"]
        delivery = ((("goto", T.INT_SNAT),) if where == bridge.chassis
                    else self.planner.delivery(bridge, network["id"]))
        if delivery is None:
            return flows
        flows.append(nat.snat_redirect_flow(lvid, gateway_mac, snat_mac, delivery))
        if where == bridge.chassis and (entry := self.planner.routed_entry(bridge, network)):
            flows.append(nat.snat_entry_flow(entry, snat_mac))
        return flows

    def _connected_drops(self, router_id: str, lvid: int, gateway_mac: str) -> list[Flow]:
        flows = []
        for interface in self.planner.dvr_interfaces(router_id):
            for ip in interface["fixed_ips"]:
                subnet = self.model.records["subnet"].get(ip["subnet_id"])
                if subnet:
                    cidr = ipaddress.IPv4Network(subnet["cidr"])
                    flows.append(nat.connected_drop_flow(
                        lvid, gateway_mac, (str(cidr.network_address), str(cidr.netmask))))
        return flows

    def external_network_flows(self, bridge: Bridge, network: dict) -> list[Flow]:
        """br-int of a hypervisor hosting an external network: the upstream gateway's ARP
        answers to the controller."""
        external = self.external(bridge, network["id"]) if network["router:external"] else None
        if external is None:
            return []
        return [nat.external_out_flow(external)] + [
            flow for subnet_id in self.model.subnets_of.get(network["id"], ())
            if (subnet := self.model.records["subnet"][subnet_id])["gateway_ip"]
            for flow in nat.neighbour_flows(external, subnet["gateway_ip"])]

    # ---------------------------------------------------------------- a router

    def router_flows(self, bridge: Bridge, router_id: str) -> list[Flow]:
        """A router with a gateway, on br-int: its VMs' pings to its gateway address
        answered on their hypervisor, and its SNAT on its SNAT hypervisor (nothing while
        the router is down)."""
        network = self.gateway_network(router_id)
        qg = self.model.gateway_port_of(router_id)
        if (bridge.role != "int" or network is None or qg is None or not ipv4s(qg)
                or not self.planner.router_is_up(router_id)):
            return []
        gateway_ip, qg_mac = ipv4s(qg)[0], qg["mac_address"]
        where = self.snat_chassis(router_id)
        if where is None:   # no hypervisor holds its gateway address: nothing answers
            return []
        flows = self._gateway_echoes(bridge, router_id, gateway_ip)
        external = self.external(bridge, network["id"])
        if where != bridge.chassis or external is None:
            # elsewhere, what leaves for the external network reaches its address there
            return flows + ([nat.on_link_flow(external, gateway_ip, qg_mac)]
                            if external is not None else [])
        flows += [nat.external_arp_flow(external, gateway_ip, qg_mac),
                  nat.external_echo_flow(external, gateway_ip, qg_mac)]
        router = self.model.records["router"][router_id]
        upstream = self._upstream(network["id"], qg)
        if not router["external_gateway_info"]["enable_snat"]:
            return flows + self._routed_flows(bridge, router_id, qg_mac, upstream, external)
        zone = self.zones.get(router_id)
        if zone is None:
            return flows
        if upstream and upstream[1]:
            flows += [nat.snat_flow(self.model.records["port"][port_id]["mac_address"], zone,
                                    gateway_ip, qg_mac, upstream[1], external)
                      for port_id in self.model.snat_ports.get(router_id, ())]
        flows += [nat.snat_return_flow(external, gateway_ip, qg_mac, zone),
                  nat.on_link_gateway_here_flow(external, gateway_ip, qg_mac, zone)]
        for interface in self.planner.dvr_interfaces(router_id):
            flows += self._return_routes(bridge, zone, interface)
        return flows

    def _gateway_echoes(self, bridge: Bridge, router_id: str, gateway_ip: str) -> list[Flow]:
        """A VM's ping to its router's gateway address, sent to its own gateway MAC, is
        answered on its hypervisor as pings to the router's interfaces are, while a
        hypervisor is placed to hold the address (its SNAT's: a down one it stays on,
        without failover, still counts, where Neutron's snat namespace would be silent)."""
        flows = []
        for interface in self.planner.dvr_interfaces(router_id):
            lvid = self.planner.local_vlans.get(bridge.chassis, interface["network_id"])
            if lvid is not None:
                flows += br_int.gateway_echo_flows(lvid, interface["mac_address"], gateway_ip)
        return flows

    def _routed_flows(self, bridge: Bridge, router_id: str, qg_mac: str,
                      upstream: tuple | None, external: nat.External) -> list[Flow]:
        """A router without SNAT routes its VMs' own addresses in and out, on its SNAT
        hypervisor, as Neutron's snat namespace does then."""
        flows = []
        snat_ports = [self.model.records["port"][port_id]
                      for port_id in self.model.snat_ports.get(router_id, ())]
        if upstream and upstream[1]:
            flows += [nat.routed_out_flow(port["mac_address"], qg_mac, upstream[1], external)
                      for port in snat_ports if self._routes_out(router_id, port["network_id"])]
        for interface in self.planner.dvr_interfaces(router_id):
            if self._routes_out(router_id, interface["network_id"]):
                flows += [nat.routed_in_flow(external, qg_mac, *route)
                          for route in self._vms_behind(bridge, interface)]
        return flows

    def _routes_out(self, router_id: str, network_id: str) -> bool:
        """Whether a router without SNAT routes the network's own addresses outside: only
        within the external network's address scope (unscoped ones being one), as
        Neutron's keeps scopes apart."""
        external = self.gateway_network(router_id)
        return external is not None and self.model.network_address_scope(
            network_id) == self.model.network_address_scope(external["id"])

    def _return_routes(self, bridge: Bridge, zone: int, interface: dict) -> list[Flow]:
        return [nat.snat_return_route_flow(zone, ip, gateway_mac, vm_mac, delivery)
                for ip, gateway_mac, vm_mac, delivery in self._vms_behind(bridge, interface)]

    def _vms_behind(self, bridge: Bridge, interface: dict) -> list[tuple[str, str, str, tuple]]:
        """(IP, gateway MAC, VM MAC, delivery) of each VM address behind a router
        interface, as this hypervisor reaches it."""
        return [(ip, interface["mac_address"], port["mac_address"], delivery)
                for ip, port, delivery in self.planner.addresses_behind(bridge, interface)]

    def router_announcement(self, bridge: Bridge, router_id: str) -> tuple | None:
        """(ofport, IP, MAC, VLAN) of the gratuitous ARP for the router's gateway address
        when this hypervisor answers for it."""
        network, qg = self.gateway_network(router_id), self.model.gateway_port_of(router_id)
        if network is None or qg is None or not ipv4s(qg) or \
                self.snat_chassis(router_id) != bridge.chassis:
            return None
        return self._announcement(bridge, network["id"], ipv4s(qg)[0], qg["mac_address"])

    def _announcement(self, bridge: Bridge, network_id: str, ip: str, mac: str) -> tuple | None:
        external = self.external(bridge, network_id)
        lvid = self.planner.local_vlans.get(bridge.chassis, network_id)
        return None if external is None else (external.int_ex, ip, mac, lvid)

    # --------------------------------------------------------- a floating IP

    def _fip_context(self, bridge: Bridge, fip: dict) -> dict | None:
        """What a floating IP's flows on this hypervisor need, if it is served here: only
        for a VM's port bound here, the ports the firewall filters (a failed binding's
        device is dead, and its floating IP must not be a way in around that)."""
        port = self.model.records["port"].get(fip["port_id"]) if fip["port_id"] else None
        if bridge.role != "int" or port is None or not is_bound_vm_port(port, bridge.chassis):
            return None
        network_id = fip["floating_network_id"]
        device = self.planner.device_of(bridge, port)
        fg = self.model.fip_gateway_port(network_id, bridge.chassis)
        external = self.external(bridge, network_id)
        lvid = self.planner.local_vlans.get(bridge.chassis, port["network_id"])
        zone = self.zones.get(fip["id"])
        gateway = self._interface_for(fip["router_id"], port, fip["fixed_ip_address"])
        if None in (device, fg, external, lvid, zone, gateway):
            return None
        return {"port": port, "fg": fg, "external": external, "lvid": lvid,
                "zone": zone, "gateway_mac": gateway["mac_address"]}

    def _interface_for(self, router_id: str | None, port: dict, fixed_ip: str) -> dict | None:
        subnet_id = next((ip["subnet_id"] for ip in port["fixed_ips"]
                          if ip["ip_address"] == fixed_ip), None)
        for interface in self.planner.dvr_interfaces(router_id) if router_id else ():
            if any(ip["subnet_id"] == subnet_id for ip in interface["fixed_ips"]):
                return interface
        return None

    def fip_flows(self, bridge: Bridge, fip_id: str) -> list[Flow]:
        """The floating IP's DNAT, SNAT and ARP answer on its VM's hypervisor, for the
        wire and for the external network's VMs here."""
        fip = self.model.records["floatingip"].get(fip_id)
        found = self._fip_context(bridge, fip) if fip else None
        if found is None:
            return self._fip_on_link(bridge, fip) if fip else []
        floating, fixed = fip["floating_ip_address"], fip["fixed_ip_address"]
        fg_mac, external, zone = found["fg"]["mac_address"], found["external"], found["zone"]
        arriving = (floating, fg_mac, zone, fixed, found["gateway_mac"],
                    found["port"]["mac_address"], self.planner.local_output(bridge, found["port"]))
        flows = [nat.external_arp_flow(external, floating, fg_mac),
                 nat.floating_in_flow(external, *arriving),
                 *nat.floating_local_flows(external, *arriving),
                 nat.on_link_here_flow(external, floating, fg_mac)]
        upstream = self._upstream(fip["floating_network_id"], found["fg"])
        if upstream and upstream[1]:
            leaving = (found["lvid"], found["gateway_mac"], fixed, floating, zone, fg_mac,
                       upstream[1], external)
            flows += [nat.floating_out_flow(*leaving), nat.floating_self_flow(*leaving)]
        return flows

    def _fip_on_link(self, bridge: Bridge, fip: dict) -> list[Flow]:
        """On another hypervisor of the external network: what leaves for the floating
        IP goes to the fg- MAC of the hypervisor that serves it."""
        external = self.external(bridge, fip["floating_network_id"])
        port = self.model.records["port"].get(fip["port_id"]) if fip["port_id"] else None
        host = port["binding:host_id"] if port else None
        serving = self.topology.bridge(host, "int") if host else None
        found = self._fip_context(serving, fip) if external and serving else None
        if found is None:
            return []
        return [nat.on_link_flow(external, fip["floating_ip_address"],
                                 found["fg"]["mac_address"])]

    def fip_announcement(self, bridge: Bridge, fip_id: str) -> tuple | None:
        fip = self.model.records["floatingip"].get(fip_id)
        found = self._fip_context(bridge, fip) if fip else None
        if found is None:
            return None
        return self._announcement(bridge, fip["floating_network_id"],
                                  fip["floating_ip_address"], found["fg"]["mac_address"])

    # ------------------------------------------------------------ neighbours

    def neighbours_wanted(self, bridge: Bridge) -> list[tuple[str, str, str, str, int, int]]:
        """(external network, upstream gateway IP, our IP, our MAC, br-int ofport, local
        VLAN) for each upstream gateway this hypervisor sends to: ARP asks it from the
        qg- or fg- address the hypervisor speaks for."""
        ours = [self.model.gateway_port_of(router_id) for router_id in self.gateway_routers()
                if self.snat_chassis(router_id) == bridge.chassis]
        ours += [self.model.records["port"][port_id]
                 for (network_id, host), port_id in self.model.fip_gateways.items()
                 if host == bridge.chassis]
        wanted = {}
        for port in filter(None, ours):
            network_id = port["network_id"]
            upstream = self._upstream(network_id, port)
            reach = self._announcement(bridge, network_id, "", "") if ipv4s(port) else None
            if upstream and reach and (network_id, upstream[0]) not in wanted:
                wanted[(network_id, upstream[0])] = (network_id, upstream[0], ipv4s(port)[0],
                                                     port["mac_address"], reach[0], reach[3])
        return list(wanted.values())
