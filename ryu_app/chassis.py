"""What a hypervisor's database saying something new means (pure: no Ryu, no I/O).

The app hands in each hypervisor's registration and bridges as its OVSDB replica shows
them; this registers the chassis, brings the topology in line, binds and unbinds the
ports whose devices came or went, and has the wiring recompute what those changes
touch.  Outputs leave through the wiring (flow-mods, tags, tunnels to provision).
"""
from __future__ import annotations

from typing import Iterable

from ryu_app.binding import PortBinder
from ryu_app.model.dvr_macs import DvrMacs
from ryu_app.model.hypervisors import Hypervisors
from ryu_app.ovsdb.provisioning import Target
from ryu_app.wiring import Wiring
from topology.chassis import ChassisSpec
from topology.graph import Bridge, BridgeView, Changes, Topology
from topology.naming import PortInfo


class ChassisSync:
    def __init__(self, topology: Topology, hypervisors: Hypervisors, dvr_macs: DvrMacs,
                 binder: PortBinder, wiring: Wiring):
        self.topology = topology
        self.hypervisors = hypervisors
        self.dvr_macs = dvr_macs
        self.binder = binder
        self.wiring = wiring

    def database_seen(self, spec: ChassisSpec, views: Iterable[BridgeView],
                      full: bool) -> Changes:
        """The chassis' database as it is now; ``full`` after (re)connecting, when ports
        unplugged meanwhile go down and every VM device is tagged afresh."""
        self.topology.sessions.add(spec.name)
        self._register(spec)
        changes = self.topology.sync_chassis(spec.name, views)
        self._apply(spec.name, changes)
        integration = self.topology.bridge(spec.name, "int")
        if full and integration is not None:
            devices = [p for p in self.topology.ports(integration.dpid) if p.kind == "vm"]
            self.binder.integration_bridge_synced(spec.name, devices)
            for device in devices:
                self.wiring.retag(spec.name, device)
        return changes

    def target(self, chassis: str, controller: str, datapath_type: str) -> Target:
        """What the chassis' database should hold now: its bridges pointed at
        ``controller``, and a tunnel to each chassis it shares a VXLAN/GRE network with."""
        spec = self.topology.chassis[chassis]
        tunnels = frozenset((kind, self.topology.chassis[remote].tunnel_ip)
                            for kind, remote in self.wiring.planner.tunnels_wanted(chassis))
        return Target(spec, spec.datapath_type or datapath_type, controller, tunnels)

    def session_lost(self, chassis: str) -> None:
        """Not alive any more; what its switches hold stays as it was."""
        self.topology.sessions.discard(chassis)

    def _register(self, spec: ChassisSpec) -> None:
        if self.hypervisors.register(spec) or self.topology.chassis.get(spec.name) != spec:
            self.topology.register(spec)
            self.dvr_macs.ensure(spec.name)
            self.wiring.tunnels_dirty |= set(self.topology.chassis)
            self.wiring.base_changed()   # every chassis knows every DVR MAC

    def _apply(self, chassis: str, changes: Changes) -> None:
        """Bindings, tags and flows for the bridges and ports that came or went."""
        for bridge in changes.bridges_removed:
            self.wiring.bridge_gone(bridge.dpid)
        structural = bool(changes.bridges_added or changes.bridges_removed)
        for bridge, port in changes.ports_removed:
            if _is_vm_device(bridge, port):
                self.binder.device_removed(chassis, port)
                self.wiring.device_unplugged(bridge, port)
            structural |= not _is_vm_device(bridge, port)
        for bridge, port in changes.ports_added:
            if _is_vm_device(bridge, port):
                self.binder.device_added(chassis, port)
                self.wiring.device_plugged(bridge, port)
            structural |= not _is_vm_device(bridge, port)
        if structural:   # patch or tunnel ports: the chassis' base and network flows move
            self.wiring.chassis_ports_changed(chassis)


def _is_vm_device(bridge: Bridge, port: PortInfo) -> bool:
    return port.kind == "vm" and bridge.role == "int"
