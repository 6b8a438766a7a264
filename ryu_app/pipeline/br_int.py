"""br-int: the integration bridge's tables, as seeds 000 and 001 show them (pure)."""
from __future__ import annotations

from typing import Iterable

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.flow import ETH_TYPE_8021Q, ETH_TYPE_ARP, OFPVID_NONE, Flow, match, vlan

NORMAL = ("output", "normal")


def default_flows(int_phy_ports: Iterable[int]) -> list[Flow]:
    """Tables 0, 23, 24, 25, 60 at start-up, plus a drop for each physical patch."""
    flows = [
        # table 23: the canary; if it is missing, the switch lost our flows
        Flow(T.INT_CANARY, 0),
        # table 0: frames still in the dead VLAN go nowhere
        Flow(T.INT_LOCAL_SWITCHING, 65535, match(vlan_vid=vlan(T.DEAD_VLAN))),
        # table 0 -> 60: the default path, ordinary L2 switching (NORMAL)
        Flow(T.INT_LOCAL_SWITCHING, 0, (), (("goto", T.INT_TRANSIENT),)),
        Flow(T.INT_TRANSIENT, 1, (), (NORMAL,)),
        # tables 24/25: what anti-spoofing does not allow is dropped
        Flow(T.INT_ARP_SPOOF, 0),
        Flow(T.INT_MAC_SPOOF, 0),
    ]
    # table 0: from a physical bridge only the networks' VLANs come in (per network, below)
    flows += [Flow(T.INT_LOCAL_SWITCHING, 2, match(in_port=port)) for port in int_phy_ports]
    return flows


def dead_port_flow(ofport: int) -> Flow:
    """Table 0: a device that is no bound port passes nothing."""
    return Flow(T.INT_LOCAL_SWITCHING, 2, match(in_port=ofport))


def port_security_flows(ofport: int, addresses: Iterable[str | tuple[str, str]],
                        macs: Iterable[str]) -> list[Flow]:
    """Tables 0, 24, 25: a VM may send ARP only for its own addresses, frames only from
    its own MACs.  An address is an IP or an (IP, mask) pair, from fixed IPs and
    allowed address pairs."""
    flows = [
        # table 0: ARP first goes through the SPA check (24), everything through the MAC check
        Flow(T.INT_LOCAL_SWITCHING, 10, match(in_port=ofport, eth_type=ETH_TYPE_ARP),
             (("goto", T.INT_ARP_SPOOF),)),
        Flow(T.INT_LOCAL_SWITCHING, 9, match(in_port=ofport), (("goto", T.INT_MAC_SPOOF),)),
    ]
    # table 24: the ARP sender IP must be one of the port's addresses
    flows += [Flow(T.INT_ARP_SPOOF, 2,
                   match(in_port=ofport, eth_type=ETH_TYPE_ARP, arp_spa=address),
                   (("goto", T.INT_MAC_SPOOF),)) for address in sorted(set(addresses), key=str)]
    # table 25: the source MAC must be one of the port's MACs; then on to NORMAL (60)
    flows += [Flow(T.INT_MAC_SPOOF, 2, match(in_port=ofport, eth_src=mac),
                   (("goto", T.INT_TRANSIENT),)) for mac in sorted(set(macs))]
    return flows


def provider_in_flow(int_phy: int, segmentation_id: int | None, lvid: int) -> Flow:
    """Table 0: a provider network's frames from int-br-X get this chassis' local VLAN:
    the physical VLAN is rewritten (VLAN networks), or the VLAN pushed (flat)."""
    if segmentation_id is None:
        return Flow(T.INT_LOCAL_SWITCHING, 3, match(in_port=int_phy, vlan_vid=OFPVID_NONE),
                    (("push_vlan", ETH_TYPE_8021Q), ("set_field", "vlan_vid", vlan(lvid)),
                     ("goto", T.INT_TRANSIENT)))
    return Flow(T.INT_LOCAL_SWITCHING, 3, match(in_port=int_phy, vlan_vid=vlan(segmentation_id)),
                (("set_field", "vlan_vid", vlan(lvid)), ("goto", T.INT_TRANSIENT)))
