"""br-ethX: a physical network bridge's table 0 (pure)."""
from __future__ import annotations

from ryu_app.pipeline import tables as T
from ryu_app.pipeline.br_int import NORMAL
from ryu_app.pipeline.flow import Flow, builder, match, vlan


@builder
def default_flows(phy_int: int) -> list[Flow]:
    """Table 0 and the canary (23) at start-up: the physical side is switched normally;
    from br-int only the networks' local VLANs go out (per network, below)."""
    return [
        Flow(T.PHYS_LOCAL_SWITCHING, 0, (), (NORMAL,)),
        Flow(T.PHYS_LOCAL_SWITCHING, 2, match(in_port=phy_int)),
        Flow(T.CANARY, 0),
    ]


def _to_physical(segmentation_id: int | None) -> tuple:
    return (("pop_vlan",) if segmentation_id is None
            else ("set_field", "vlan_vid", vlan(segmentation_id)))


@builder
def provider_out_flow(phy_int: int, lvid: int, segmentation_id: int | None) -> Flow:
    """Table 0: a network's frames from phy-br-X leave with its physical VLAN
    (mod_vlan_vid:S), or untagged for a flat network."""
    return Flow(T.PHYS_LOCAL_SWITCHING, 4, match(in_port=phy_int, vlan_vid=vlan(lvid)),
                (_to_physical(segmentation_id), NORMAL))


@builder
def dvr_interface_flows(phy_int: int, lvid: int, segmentation_id: int | None,
                        gateway_mac: str, dvr_mac: str) -> list[Flow]:
    """Table 0, on a routed network: frames to the gateway MAC never leave the chassis, and
    routed frames leave with this chassis' DVR MAC as source, not the gateway's."""
    on_network = {"in_port": phy_int, "vlan_vid": vlan(lvid)}
    return [
        Flow(T.PHYS_LOCAL_SWITCHING, 5, match(eth_dst=gateway_mac, **on_network)),
        Flow(T.PHYS_LOCAL_SWITCHING, 5, match(eth_src=gateway_mac, **on_network),
             (("set_field", "eth_src", dvr_mac), _to_physical(segmentation_id), NORMAL)),
    ]
