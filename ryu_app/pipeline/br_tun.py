"""br-tun: the tunnel bridge's tables, as ../shared/seeds/001_*.txt dissects them (pure)."""
from __future__ import annotations

from dataclasses import dataclass

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import (ETH_TYPE_8021Q, ETH_TYPE_ARP, Flow, arp_reply, builder,
                                    match, vlan)

BROADCAST = "ff:ff:ff:ff:ff:ff"
# The learn() of ../shared/seeds/001_*.txt §2.2: remember which tunnel a remote MAC came
# from, for 300 s.  It reads
# learn(table=20,priority=1,hard_timeout=300,NXM_OF_VLAN_TCI[0..11],
#       NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],
#       load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[])
# as (kind, source, destination, bits) specs; the learned flow carries our cookie.
LEARN_REMOTE_MAC = ("learn", T.TUN_UCAST_TO_TUN, 1, 300, (
    ("match", "vlan_tci", "vlan_tci", 12),
    ("match", "eth_src", "eth_dst", 48),
    ("load", 0, "vlan_tci", 16),
    ("load", "tunnel_id", "tunnel_id", 64),
    ("output", "in_port", None, 32),
))


@dataclass(frozen=True)
class TunnelSegment:
    """One tunnelled network as one chassis sees it."""

    lvid: int                                   # this chassis' local VLAN for it
    segmentation_id: int                        # VNI / GRE key
    tunnel_type: str                            # vxlan | gre
    flood_ports: tuple[int, ...] = ()           # tunnels to chassis with ports on it
    gateways: tuple[tuple[str, str], ...] = ()  # ARP responder: (gateway IP, router MAC)


@builder
def default_flows(patch_int: int, remote_dvr_macs: tuple[str, ...] = ()) -> list[Flow]:
    """Tables 0-22 and the canary (23) at start-up, in DVR mode: the skeleton every network uses."""
    return [
        # table 0: from br-int -> DVR egress (1); the rest (unknown tunnels) dropped
        Flow(T.TUN_LOCAL_SWITCHING, 1, match(in_port=patch_int), (("goto", T.TUN_DVR_PROCESS),)),
        Flow(T.TUN_LOCAL_SWITCHING, 0),
        # table 1: what no router interface claims goes on as it is
        Flow(T.TUN_DVR_PROCESS, 0, (), (("goto", T.TUN_PATCH_LV_TO_TUN),)),
        # table 2: broadcast ARP -> responder 21, unicast -> 20, multicast/broadcast -> 22
        Flow(T.TUN_PATCH_LV_TO_TUN, 1, match(eth_type=ETH_TYPE_ARP, eth_dst=BROADCAST),
             (("goto", T.TUN_ARP_RESPONDER),)),
        Flow(T.TUN_PATCH_LV_TO_TUN, 0,
             match(eth_dst=("00:00:00:00:00:00", "01:00:00:00:00:00")),
             (("goto", T.TUN_UCAST_TO_TUN),)),
        Flow(T.TUN_PATCH_LV_TO_TUN, 0,
             match(eth_dst=("01:00:00:00:00:00", "01:00:00:00:00:00")),
             (("goto", T.TUN_FLOOD_TO_TUN),)),
        # tables 3/4: unknown tunnel ids dropped
        Flow(T.TUN_GRE_TO_LV, 0),
        Flow(T.TUN_VXLAN_TO_LV, 0),
        # table 9: frames routed by another chassis (its DVR MAC) are not learned
        Flow(T.TUN_DVR_NOT_LEARN, 0, (), (("goto", T.TUN_LEARN_FROM_TUN),)),
        *(Flow(T.TUN_DVR_NOT_LEARN, 1, match(eth_src=mac), (("output", patch_int),))
          for mac in remote_dvr_macs),
        # table 10: learn the source MAC's tunnel, then hand the frame to br-int
        Flow(T.TUN_LEARN_FROM_TUN, 1, (), (LEARN_REMOTE_MAC, ("output", patch_int))),
        # tables 20/21: unknown unicast and unanswered ARP are flooded; 22 drops the rest
        Flow(T.TUN_UCAST_TO_TUN, 0, (), (("goto", T.TUN_FLOOD_TO_TUN),)),
        Flow(T.TUN_ARP_RESPONDER, 0, (), (("goto", T.TUN_FLOOD_TO_TUN),)),
        Flow(T.TUN_FLOOD_TO_TUN, 0),
        Flow(T.CANARY, 0),
    ]


@builder
def tunnel_port_flow(ofport: int, tunnel_type: str) -> Flow:
    """Table 0: frames from a tunnel port go to the tun_id -> local VLAN table of its type."""
    return Flow(T.TUN_LOCAL_SWITCHING, 1, match(in_port=ofport),
                (("goto", T.TUN_TO_LV[tunnel_type]),))


def segment_flows(segment: TunnelSegment) -> list[Flow]:
    """The per-network flows of br-tun for one tunnelled network on this chassis (each
    remote port's own entries are ``remote_port_flows``)."""
    flows = [tunnel_to_local_vlan_flow(segment)]
    if segment.flood_ports:
        flows.append(flood_flow(segment))
    flows += [arp_responder_flow(segment, ip, mac) for ip, mac in segment.gateways]
    return flows


def remote_port_flows(segment: TunnelSegment, mac: str, ofport: int,
                      ips: list[str]) -> list[Flow]:
    """l2pop for one remote port: its MAC goes straight to its chassis' tunnel (table 20)
    and ARP for its addresses is answered here (table 21)."""
    return [l2pop_unicast_flow(segment, mac, ofport)] + [
        arp_responder_flow(segment, ip, mac) for ip in ips]


def _to_tunnel(segment: TunnelSegment) -> tuple:
    return ("pop_vlan",), ("set_field", "tunnel_id", segment.segmentation_id)


@builder
def tunnel_to_local_vlan_flow(segment: TunnelSegment) -> Flow:
    """Tables 3/4: tun_id=S -> tag with the local VLAN, on to learning (via DVR's 9)."""
    return Flow(T.TUN_TO_LV[segment.tunnel_type], 1,
                match(tunnel_id=segment.segmentation_id),
                (("push_vlan", ETH_TYPE_8021Q), ("set_field", "vlan_vid", vlan(segment.lvid)),
                 ("goto", T.TUN_DVR_NOT_LEARN)))


@builder
def flood_flow(segment: TunnelSegment) -> Flow:
    """Table 22: strip the local VLAN, set tun_id, copy to each chassis on the network."""
    outputs = tuple(("output", port) for port in sorted(segment.flood_ports))
    return Flow(T.TUN_FLOOD_TO_TUN, 1, match(vlan_vid=vlan(segment.lvid)),
                _to_tunnel(segment) + outputs)


@builder
def l2pop_unicast_flow(segment: TunnelSegment, mac: str, ofport: int) -> Flow:
    """Table 20, priority 2 (l2pop): a remote port's MAC goes straight to its chassis."""
    return Flow(T.TUN_UCAST_TO_TUN, 2, match(vlan_vid=vlan(segment.lvid), eth_dst=mac),
                _to_tunnel(segment) + (("output", ofport),))


@builder
def arp_responder_flow(segment: TunnelSegment, ip: str, mac: str) -> Flow:
    """Table 21: answer 'who has IP' with MAC in place and send it back to br-int."""
    return Flow(T.TUN_ARP_RESPONDER, 1,
                match(eth_type=ETH_TYPE_ARP, vlan_vid=vlan(segment.lvid), arp_tpa=ip),
                arp_reply(ip, mac))


@builder
def dvr_interface_flows(lvid: int, gateway_mac: str, dvr_mac: str) -> list[Flow]:
    """Table 1: on a routed network, frames to the gateway MAC never leave the chassis, and
    routed frames leave with this chassis' DVR MAC instead of the gateway's as source."""
    return [
        Flow(T.TUN_DVR_PROCESS, 2, match(vlan_vid=vlan(lvid), eth_dst=gateway_mac)),
        Flow(T.TUN_DVR_PROCESS, 1, match(vlan_vid=vlan(lvid), eth_src=gateway_mac),
             (("set_field", "eth_src", dvr_mac), ("goto", T.TUN_PATCH_LV_TO_TUN))),
    ]
