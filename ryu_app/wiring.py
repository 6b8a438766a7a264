"""Keeps every bridge's flows and every VM port's tag in line with the model (no Ryu).

The Ryu app calls in with events (a bridge connected, ports came or went, the
model changed) and hands out what comes back: flow-mods per bridge through
``send`` and port tags through ``set_tag`` (OVSDB).  Each event recomputes only
what it affects: a port's network on the chassis that serve it, and the port's
own device; a bridge's ports changing recomputes that chassis' bridges.  Chassis
whose set of networks changed collect in ``tunnels_dirty``: their tunnel ports may
have to come or go (the app drains it after each event).
"""
from __future__ import annotations

from typing import Callable

from ryu_app.model.local_vlans import LocalVlans
from ryu_app.pipeline.flow import Flow
from ryu_app.pipeline.planner import BASE, Group, Planner, device_group, network_group
from ryu_app.reconciler import BridgeFlows, FlowMods
from topology.graph import Bridge, Topology
from topology.naming import PortInfo

SendFlowMods = Callable[[int, FlowMods], None]
SetTag = Callable[[str, PortInfo, int], None]    # chassis, VM device, VLAN


class Wiring:
    def __init__(self, planner: Planner, send: SendFlowMods, set_tag: SetTag):
        self.planner = planner
        self.send = send
        self.set_tag = set_tag
        self.bridges: dict[int, BridgeFlows] = {}
        self.tunnels_dirty: set[str] = set()

    @property
    def topology(self) -> Topology:
        return self.planner.topology

    @property
    def local_vlans(self) -> LocalVlans:
        return self.planner.local_vlans

    # ---------------------------------------------------------------- bridges

    def bridge_connected(self, bridge: Bridge) -> BridgeFlows:
        """Install everything the bridge should hold under a fresh cookie; the caller then
        sweeps what carries another cookie."""
        state = self.bridges[bridge.dpid] = BridgeFlows()
        mods = FlowMods()
        for group, flows in self.planner.bridge_groups(bridge).items():
            mods.adds += state.replace(group, flows).adds
        self.send(bridge.dpid, mods)
        return state

    def bridge_gone(self, dpid: int) -> None:
        self.bridges.pop(dpid, None)

    def base_changed(self) -> None:
        """Something every chassis' start-up tables name changed (the set of DVR MACs)."""
        for bridge in list(self.topology.bridges.values()):
            self._update(bridge, BASE, self.planner.base_flows(bridge))

    def chassis_ports_changed(self, chassis: str) -> None:
        """Patch or tunnel ports came or went: the chassis' base and network flows move."""
        for bridge in self.topology.bridges_of(chassis):
            self._update(bridge, BASE, self.planner.base_flows(bridge))
            for network_id in self.local_vlans.networks_on(chassis):
                self._update(bridge, network_group(network_id),
                             self.planner.network_flows(bridge, network_id))

    # ---------------------------------------------------------------- devices

    def device_plugged(self, bridge: Bridge, device: PortInfo) -> None:
        self._update(bridge, device_group(device.name),
                     self.planner.device_flows(bridge, device))
        self.retag(bridge.chassis, device)

    def device_unplugged(self, bridge: Bridge, device: PortInfo) -> None:
        self._update(bridge, device_group(device.name), [])

    def retag(self, chassis: str, device: PortInfo) -> None:
        """Give a VM device its access tag (the app writes it only if it differs)."""
        self.set_tag(chassis, device, self.planner.device_tag(chassis, device))

    # ------------------------------------------------------------------ model

    def model_changed(self, kind: str, old: dict | None, new: dict | None) -> None:
        """A NetworkModel listener."""
        if kind == "network":
            self.networks_changed({(old or new)["id"]})
        elif kind == "port":
            self.networks_changed(set().union(*(self.planner.affected_networks(port)
                                                for port in (old, new) if port)))
            for port in (old, new):
                if port is not None:
                    self._port_devices_changed(port)

    def networks_changed(self, network_ids: set[str]) -> None:
        """Give each network a local VLAN where it is hosted and free it where it is not any
        more, then recompute its flows on every chassis that had or has it (l2pop).  All
        VLANs first: a routed network's flows use the local VLANs of the others."""
        touched = {network_id: self._sync_local_vlans(network_id) for network_id in network_ids}
        for network_id, chassis_set in touched.items():
            for chassis in chassis_set:
                for bridge in self.topology.bridges_of(chassis):
                    self._update(bridge, network_group(network_id),
                                 self.planner.network_flows(bridge, network_id))

    def _sync_local_vlans(self, network_id: str) -> set[str]:
        hosting = self.planner.hosting_chassis(network_id)
        before = self._wired_chassis(network_id)
        moved = False
        for chassis in self.topology.chassis:
            if chassis in hosting and self.local_vlans.get(chassis, network_id) is None:
                self.local_vlans.ensure(chassis, network_id)
                moved = True
            elif chassis not in hosting and chassis in before:
                self.local_vlans.release(chassis, network_id)
                moved = True
        if moved:   # every chassis on the network may gain or lose a tunnel partner
            self.tunnels_dirty |= before | hosting
        return before | hosting

    def _wired_chassis(self, network_id: str) -> set[str]:
        """Chassis whose bridges hold flows of the network, or keep a local VLAN for it."""
        group = network_group(network_id)
        wired = {self.topology.bridges[dpid].chassis for dpid, state in self.bridges.items()
                 if group in state.groups and dpid in self.topology.bridges}
        return wired | {chassis for chassis in self.topology.chassis
                        if self.local_vlans.get(chassis, network_id) is not None}

    def _port_devices_changed(self, port: dict) -> None:
        for chassis, device in self.planner.devices_of(port):
            bridge = self.topology.bridge(chassis, "int")
            if bridge is not None:
                self.device_plugged(bridge, device)

    # -------------------------------------------------------------- plumbing

    def _update(self, bridge: Bridge, group: Group, flows: list[Flow]) -> None:
        state = self.bridges.get(bridge.dpid)
        if state is None:
            return  # not connected: it gets everything when it connects
        mods = state.replace(group, flows)
        if mods:
            self.send(bridge.dpid, mods)
