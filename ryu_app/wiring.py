"""Keeps every bridge's flows and every VM port's tag in line with the model (no Ryu).

The Ryu app calls in with events (a bridge connected, ports came or went, the
model changed) and hands out what comes back: flow-mods per bridge through
``send`` and port tags through ``set_tag`` (OVSDB).  Each event recomputes only
what it affects: a port's network on the chassis that serve it, and the port's
own device; a bridge's ports changing recomputes that chassis' bridges.
"""
from __future__ import annotations

import logging
from typing import Callable

from ryu_app.model.local_vlans import LocalVlans
from ryu_app.pipeline.flow import Flow
from ryu_app.pipeline.planner import BASE, Group, Planner, device_group, network_group
from ryu_app.reconciler import BridgeFlows, FlowMods
from topology.graph import Bridge, Topology
from topology.naming import PortInfo

LOG = logging.getLogger(__name__)

SendFlowMods = Callable[[int, FlowMods], None]
SetTag = Callable[[str, int], None]


class Wiring:
    def __init__(self, planner: Planner, send: SendFlowMods, set_tag: SetTag):
        self.planner = planner
        self.send = send
        self.set_tag = set_tag
        self.bridges: dict[int, BridgeFlows] = {}
        self.tags: dict[str, int] = {}  # VM device -> the tag last set on it

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
        if bridge.role == "int":
            for device in self.planner.vm_devices(bridge):
                self.tags.pop(device.name, None)
                self._retag(bridge.chassis, device.name)
        return state

    def bridge_gone(self, dpid: int) -> None:
        self.bridges.pop(dpid, None)

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
        self._retag(bridge.chassis, device.name)

    def device_unplugged(self, bridge: Bridge, device: PortInfo) -> None:
        self._update(bridge, device_group(device.name), [])
        self.tags.pop(device.name, None)

    def _retag(self, chassis: str, device: str) -> None:
        tag = self.planner.device_tag(chassis, device)
        if self.tags.get(device) != tag:
            self.set_tag(device, tag)
            self.tags[device] = tag

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
        for chassis in self.topology.chassis:
            if chassis in hosting:
                self.local_vlans.ensure(chassis, network_id)
            elif chassis in before:
                self.local_vlans.release(chassis, network_id)
        return before | hosting

    def _wired_chassis(self, network_id: str) -> set[str]:
        """Chassis whose bridges hold flows of the network, or keep a local VLAN for it."""
        group = network_group(network_id)
        wired = {self.topology.bridges[dpid].chassis for dpid, state in self.bridges.items()
                 if group in state.groups and dpid in self.topology.bridges}
        return wired | {chassis for chassis in self.topology.chassis
                        if self.local_vlans.get(chassis, network_id) is not None}

    def _port_devices_changed(self, port: dict) -> None:
        for chassis, name in self.planner.devices_of(port):
            bridge = self.topology.bridge(chassis, "int")
            device = self.topology.port(bridge, name) if bridge else None
            if device is not None:
                self.device_plugged(bridge, device)

    # -------------------------------------------------------------- plumbing

    def _update(self, bridge: Bridge, group: Group, flows: list[Flow]) -> None:
        state = self.bridges.get(bridge.dpid)
        if state is None:
            return  # not connected: it gets everything when it connects
        mods = state.replace(group, flows)
        if mods:
            self.send(bridge.dpid, mods)
