"""Port binding as Nova and Neutron's agent do it: a VM device on a chassis' br-int binds
its port there (pure).

A device stands for a port by ``external_ids:iface-id`` (what Nova/libvirt and OVN use),
or, without it, by its name: ``tap``/``qvo`` + the first 11 characters of the port id.
Its appearing makes the port ACTIVE on that chassis; its leaving makes it DOWN.  Devices
that name no known port are ignored (and kept in the dead VLAN).
"""
from __future__ import annotations

import logging
from typing import Iterable

from ryu_app.model.tenant import NetworkModel
from topology.naming import PortInfo, port_id_prefix

LOG = logging.getLogger(__name__)


def is_bound_vm_port(port: dict, chassis: str | None = None) -> bool:
    """A compute (non-network:*) port whose device is up on a chassis (that one, if given)."""
    return (port["status"] == "ACTIVE" and bool(port["binding:host_id"])
            and not port["device_owner"].startswith("network:")
            and chassis in (None, port["binding:host_id"]))


def port_of_device(model: NetworkModel, device: PortInfo) -> dict | None:
    """The port a VM device stands for: by iface-id, else by the tap/qvo name rule."""
    if device.iface_id:
        return model.records["port"].get(device.iface_id)
    prefix = port_id_prefix(device.name)
    port_id = model.port_by_prefix.get(prefix) if prefix else None
    return model.records["port"].get(port_id) if port_id else None


class PortBinder:
    def __init__(self, model: NetworkModel):
        self.model = model

    def device_added(self, chassis: str, device: PortInfo) -> None:
        if device.kind != "vm":
            return
        port = port_of_device(self.model, device)
        if port is None:
            LOG.info("device %s on %s names no known port; ignored", device.name, chassis)
            return
        self.model.bind_port(port["id"], chassis)

    def device_removed(self, chassis: str, device: PortInfo) -> None:
        port = port_of_device(self.model, device) if device.kind == "vm" else None
        if port is not None and port["binding:host_id"] == chassis:
            self.model.unbind_port(port["id"])

    def integration_bridge_synced(self, chassis: str, devices: Iterable[PortInfo]) -> None:
        """After (re)connecting: bind what is plugged, and put down what no longer is."""
        present = set()
        for device in devices:
            self.device_added(chassis, device)
            port = port_of_device(self.model, device) if device.kind == "vm" else None
            if port is not None:
                present.add(port["id"])
        for port in list(self.model.records["port"].values()):
            if is_bound_vm_port(port, chassis) and port["id"] not in present:
                self.model.unbind_port(port["id"])
