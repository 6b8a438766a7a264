"""br-int: the integration bridge's tables, as ../shared/seeds/000_*.txt and 001_*.txt show
them, with Neutron's DVR and anti-spoofing tables (pure)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import (ETH_TYPE_8021Q, ETH_TYPE_ARP, OFPVID_NONE, OFPVID_PRESENT,
                                    Flow, arp_reply, builder, match, vlan)

NORMAL = ("output", "normal")
ETH_TYPE_IP = 0x0800
IPPROTO_ICMP, IPPROTO_UDP = 1, 17
DHCP_CLIENT, DHCP_SERVER = 68, 67
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
NO_PORT = 0   # an in_port no port has: output to the port a frame came in by is then allowed


@builder
def default_flows(int_phy_ports: Iterable[int], dhcp_rate: int) -> list[Flow]:
    """Tables 0, 23, 24, 25, 60, 77 at start-up, plus a drop for each physical patch;
    ``dhcp_rate``: DHCP requests per second the bridge sends the controller."""
    flows = [
        Flow(T.CANARY, 0),
        # table 0: frames still in the dead VLAN go nowhere
        Flow(T.INT_LOCAL_SWITCHING, 65535, match(vlan_vid=vlan(T.DEAD_VLAN))),
        # table 0 -> 60: the default path, ordinary L2 switching (NORMAL)
        Flow(T.INT_LOCAL_SWITCHING, 0, (), (("goto", T.INT_TRANSIENT),)),
        Flow(T.INT_TRANSIENT, 1, (), (NORMAL,)),
        # tables 24/25: what anti-spoofing does not allow is dropped
        Flow(T.INT_ARP_SPOOF, 0),
        Flow(T.INT_MAC_SPOOF, 0),
        # tables 79/80: what no router's SNAT claims is dropped
        Flow(T.INT_SNAT, 0),
        Flow(T.INT_SNAT_RETURN, 0),
        # table 77: DHCP requests to the controller, within the bridge's rate
        Flow(T.INT_DHCP, 1, (), (("meter", T.DHCP_BRIDGE_METER, dhcp_rate),
                                 ("output", "controller"))),
    ]
    # table 0: from a physical bridge only the networks' VLANs come in (per network, below)
    flows += [Flow(T.INT_LOCAL_SWITCHING, 2, match(in_port=port)) for port in int_phy_ports]
    return flows


@builder
def dead_port_flow(ofport: int) -> Flow:
    """Table 0: a device that is no bound port passes nothing."""
    return Flow(T.INT_LOCAL_SWITCHING, 2, match(in_port=ofport))


def _mark_local_vlan(lvid: int) -> tuple:
    return ("set_field", T.LOCAL_VLAN_REG, lvid)


@builder
def tagged_from_vm_flows(ofport: int) -> list[Flow]:
    """Table 0: a VM port is an access port, as Open vSwitch's NORMAL treats one: a
    priority-tagged frame (VLAN id 0) loses its tag and is classified again; any other
    tag is dropped.  OpenFlow sees the tag the VM wrote (the port's own tag applies in
    NORMAL only): a frame tagged with another network's local VLAN would otherwise be
    taken for that network's in table 60 and handed to its ports."""
    return [Flow(T.INT_LOCAL_SWITCHING, 13, match(in_port=ofport, vlan_vid=OFPVID_PRESENT),
                 (("pop_vlan",), ("resubmit", T.INT_LOCAL_SWITCHING))),
            Flow(T.INT_LOCAL_SWITCHING, 12, match(in_port=ofport,
                                                  vlan_vid=(OFPVID_PRESENT, OFPVID_PRESENT)))]


@builder
def open_port_flow(ofport: int, lvid: int) -> Flow:
    """Table 0: a port without port security goes straight on (60), its network noted."""
    return Flow(T.INT_LOCAL_SWITCHING, 9, match(in_port=ofport),
                (_mark_local_vlan(lvid), ("goto", T.INT_TRANSIENT)))


@builder
def port_security_flows(ofport: int, lvid: int,
                        senders: Iterable[tuple[str, str | tuple[str, str] | None]],
                        macs: Iterable[str]) -> list[Flow]:
    """Tables 0, 24, 25: a VM may send ARP only as one of its own (MAC, address) pairs,
    frames only from its own MACs, then its security groups judge it (71).  An address is
    an IP or an (IP, mask) pair, from fixed IPs (with the port's MAC) and allowed address
    pairs (with the pair's), or None for any address (a 0.0.0.0/0 pair).  The ARP sender
    MAC is checked as well as the sender IP: a VM that announces its own IP at another
    port's MAC would otherwise turn its neighbours' traffic for it towards that port (OVN
    checks ``arp.sha`` too; Neutron's table 24 does not).  Table 0 also notes the port's
    local VLAN (for DVR in 60, and its conntrack zone) and its ofport."""
    noted = (_mark_local_vlan(lvid), ("set_field", T.FILTERED_PORT_REG, ofport))
    flows = [
        # table 0: ARP first goes through the sender check (24), everything through the MAC check
        Flow(T.INT_LOCAL_SWITCHING, 10, match(in_port=ofport, eth_type=ETH_TYPE_ARP),
             (*noted, ("goto", T.INT_ARP_SPOOF))),
        Flow(T.INT_LOCAL_SWITCHING, 9, match(in_port=ofport), (*noted, ("goto", T.INT_MAC_SPOOF))),
    ]
    # table 24: the ARP sender (MAC, IP) must be one of the port's
    flows += [Flow(T.INT_ARP_SPOOF, 2,
                   match(in_port=ofport, eth_type=ETH_TYPE_ARP, arp_sha=mac,
                         **({"arp_spa": address} if address else {})),
                   (("goto", T.INT_MAC_SPOOF),)) for mac, address in sorted(set(senders), key=str)]
    # table 25: the source MAC must be one of the port's MACs; then its security groups
    flows += [Flow(T.INT_MAC_SPOOF, 2, match(in_port=ofport, eth_src=mac),
                   (("goto", T.INT_BASE_EGRESS),)) for mac in sorted(set(macs))]
    return flows


def dhcp_match(source_port: int, destination_port: int, **fields) -> tuple:
    """UDP from ``source_port`` to ``destination_port``: 68 to 67 a client's, back a server's."""
    return match(eth_type=ETH_TYPE_IP, ip_proto=IPPROTO_UDP, udp_src=source_port,
                 udp_dst=destination_port, **fields)


@builder
def dhcp_request_flow(ofport: int, mac: str | None, rate: int) -> Flow:
    """Table 0: the port's DHCP requests (from its MAC; from any MAC, ``mac`` None, without
    port security) go to table 77 through the port's meter, at most ``rate`` per second."""
    fields = {"in_port": ofport} if mac is None else {"in_port": ofport, "eth_src": mac}
    return Flow(T.INT_LOCAL_SWITCHING, 11, dhcp_match(DHCP_CLIENT, DHCP_SERVER, **fields),
                (("meter", T.dhcp_port_meter(ofport), rate), ("goto", T.INT_DHCP)))


@builder
def dhcp_client_flows(ofport: int, lvid: int, mac: str,
                      senders: Iterable[tuple[str, str | tuple[str, str] | None]]) -> list[Flow]:
    """Table 0, for a filtered port no subnet of which has DHCP here: its DHCP requests
    from one of its own (MAC, address) pairs, or from its MAC and 0.0.0.0 (a client
    without an address), are switched on its network (60) past its egress rules, as
    Neutron's firewall lets a DHCP client out: a DHCP server of the tenant's own (PXE,
    say) serves it.  From any other source they are no DHCP client's, and the port's
    checks judge them as any packet (a spoofed source is dropped)."""
    unbound = (mac, "0.0.0.0")
    return [Flow(T.INT_LOCAL_SWITCHING, 11,
                 dhcp_match(DHCP_CLIENT, DHCP_SERVER, in_port=ofport, eth_src=sender_mac,
                            **({"ipv4_src": address} if address else {})),
                 (_mark_local_vlan(lvid), ("goto", T.INT_TRANSIENT)))
            for sender_mac, address in sorted({unbound, *senders}, key=str)]


@builder
def dhcp_server_drop_flow(ofport: int) -> Flow:
    """Table 0: a VM with port security may not act as a DHCP server for its neighbours."""
    return Flow(T.INT_LOCAL_SWITCHING, 11, dhcp_match(DHCP_SERVER, DHCP_CLIENT, in_port=ofport))


@builder
def provider_in_flow(int_phy: int, segmentation_id: int | None, lvid: int) -> Flow:
    """Table 0: a provider network's frames from int-br-X get this chassis' local VLAN:
    the physical VLAN is rewritten (VLAN networks), or the VLAN pushed (flat)."""
    if segmentation_id is None:
        return Flow(T.INT_LOCAL_SWITCHING, 3, match(in_port=int_phy, vlan_vid=OFPVID_NONE),
                    (("push_vlan", ETH_TYPE_8021Q), ("set_field", "vlan_vid", vlan(lvid)),
                     ("goto", T.INT_TRANSIENT)))
    return Flow(T.INT_LOCAL_SWITCHING, 3, match(in_port=int_phy, vlan_vid=vlan(segmentation_id)),
                (("set_field", "vlan_vid", vlan(lvid)), ("goto", T.INT_TRANSIENT)))


@builder
def dvr_default_flows(patch_tun: int | None, int_phy_ports: Iterable[int],
                      remote_dvr_macs: Iterable[str]) -> list[Flow]:
    """Tables 0, 1, 2: frames another chassis routed (its DVR MAC as source) go to the
    DVR tables, 1 from tunnels and 2 from physical networks; what they do not know, drops."""
    flows = [Flow(T.INT_DVR_TO_SRC_MAC, 1), Flow(T.INT_DVR_TO_SRC_MAC_PHYSICAL, 1)]
    for mac in remote_dvr_macs:
        if patch_tun is not None:
            flows.append(Flow(T.INT_LOCAL_SWITCHING, 4, match(in_port=patch_tun, eth_src=mac),
                              (("goto", T.INT_DVR_TO_SRC_MAC),)))
        flows += [Flow(T.INT_LOCAL_SWITCHING, 4, match(in_port=port, eth_src=mac),
                       (("goto", T.INT_DVR_TO_SRC_MAC_PHYSICAL),)) for port in int_phy_ports]
    return flows


def local_arp_answer(lvid: int, ip: str, mac: str) -> Flow:
    """Table 60: a VM's ARP for ``ip`` on its network, answered 'at ``mac``' right here."""
    return Flow(T.INT_TRANSIENT, 30, match(eth_type=ETH_TYPE_ARP, arp_tpa=ip,
                                           **{T.LOCAL_VLAN_REG: lvid}), arp_reply(ip, mac))


@builder
def gateway_arp_flow(lvid: int, gateway_ip: str, gateway_mac: str) -> Flow:
    """Table 60: a VM's ARP for its gateway is answered on its own chassis."""
    return local_arp_answer(lvid, gateway_ip, gateway_mac)


@builder
def dhcp_server_arp_flow(lvid: int, server_ip: str, server_mac: str) -> Flow:
    """Table 60: a VM's ARP for its DHCP server (renewals are unicast to it) is answered
    on its own chassis, for the server that lives nowhere else."""
    return local_arp_answer(lvid, server_ip, server_mac)


def echo_request(ip: str, mac: str) -> dict:
    """The match fields of an ICMP echo request to ``ip`` at ``mac``."""
    return {"eth_type": ETH_TYPE_IP, "ip_proto": IPPROTO_ICMP,
            "icmpv4_type": ICMP_ECHO_REQUEST, "eth_dst": mac, "ipv4_dst": ip}


def echo_reply(ip: str, mac: str) -> tuple:
    """Turn an echo request to ``ip`` at ``mac`` into its reply, in place (OVS mends the
    checksums); where the reply goes is the caller's."""
    return (("move", "eth_src", "eth_dst"), ("set_field", "eth_src", mac),
            ("move", "ipv4_src", "ipv4_dst"), ("set_field", "ipv4_src", ip),
            ("set_field", "icmpv4_type", ICMP_ECHO_REPLY))


@builder
def gateway_echo_flows(lvid: int, gateway_mac: str, router_ip: str) -> list[Flow]:
    """Table 60: a VM's ping to an address of its router (sent to its gateway MAC) is
    answered on its own chassis, as the router namespace would: the echo request turned
    into the reply in place.  From a port without filtering (reg5 0) it goes straight
    back (priority 32); from a filtered port (reg5 its ofport, reg6 its zone, from table
    0) it goes to the port's ingress filter (81) like any other frame for it, so a
    stateless port's ingress rules judge it and a stateful port's conntrack sees the
    reply of the request it committed.  ``in_port`` is set to 0 on that way so that the
    final output to the port it came from is no hairpin, which OVS would drop."""
    request = {**echo_request(router_ip, gateway_mac), T.LOCAL_VLAN_REG: lvid}
    turned = echo_reply(router_ip, gateway_mac)
    return [Flow(T.INT_TRANSIENT, 32, match(**request, **{T.FILTERED_PORT_REG: 0}),
                 (*turned, ("output", "in_port"))),
            Flow(T.INT_TRANSIENT, 31, match(**request),
                 (*turned, ("set_field", T.SETTABLE_IN_PORT, NO_PORT),
                  ("goto", T.INT_BASE_INGRESS)))]


@builder
def route_flow(lvid: int, gateway_mac: str, destination_ip: str, out_gateway_mac: str,
               destination_mac: str, delivery: tuple) -> Flow:
    """Table 60, DVR on the source chassis: an IPv4 frame sent to the gateway for a VM
    of another subnet of the router: TTL - 1, gateway -> VM MACs, then ``delivery``."""
    return Flow(T.INT_TRANSIENT, 25,
                match(eth_type=ETH_TYPE_IP, eth_dst=gateway_mac, ipv4_dst=destination_ip,
                      **{T.LOCAL_VLAN_REG: lvid}),
                (("dec_ttl",), ("set_field", "eth_src", out_gateway_mac),
                 ("set_field", "eth_dst", destination_mac), *delivery))


@builder
def unrouted_drop_flow(lvid: int, gateway_mac: str) -> Flow:
    """Table 60: what a VM sends to the gateway that the router does not know is dropped,
    never flooded."""
    return Flow(T.INT_TRANSIENT, 21, match(eth_dst=gateway_mac, **{T.LOCAL_VLAN_REG: lvid}))


@dataclass(frozen=True)
class RoutedEntry:
    """Where a frame another chassis routed onto a network comes into br-int's DVR
    tables: 1 in its local VLAN (br-tun gave it, from patch-tun only); 2 in its physical
    VLAN (None: untagged) from the patch of the network's own physical bridge, since the
    same VLAN id (or none) on another physical network is another network."""

    table: int
    vid: int | None
    in_port: int | None = None

    def match(self, eth_dst: str) -> tuple:
        arrival = {"in_port": self.in_port} if self.in_port is not None else {}
        return match(vlan_vid=OFPVID_NONE if self.vid is None else vlan(self.vid),
                     eth_dst=eth_dst, **arrival)

    def untag(self) -> tuple:
        return () if self.vid is None else (("pop_vlan",),)


@builder
def dvr_delivery_flow(entry: RoutedEntry, mac: str, gateway_mac: str, delivery: tuple) -> Flow:
    """Tables 1/2: a frame another chassis routed to a local VM gets its gateway's MAC
    back as source and goes to the VM (``delivery``: its port, or its ingress filter)."""
    return Flow(entry.table, 20, entry.match(mac),
                (("set_field", "eth_src", gateway_mac), *entry.untag(), *delivery))
