"""Port binding the Neutron way: a VM device on a chassis' br-int binds its port there.

A device named ``tap``/``qvo`` + the first 11 characters of a port id appearing
on a chassis' integration bridge makes that port ACTIVE on that chassis; the
device leaving makes it DOWN.  Devices that name no known port are ignored.
"""
from __future__ import annotations

import logging

from ryu_app.model.tenant import NetworkModel
from topology.naming import PortInfo, vm_device_name

LOG = logging.getLogger(__name__)


class PortBinder:
    def __init__(self, model: NetworkModel):
        self.model = model

    def device_added(self, chassis: str, device: PortInfo) -> None:
        if device.kind != "vm":
            return
        port = self.model.port_by_device_name(device.name)
        if port is None:
            LOG.info("device %s on %s names no known port; ignored", device.name, chassis)
            return
        self.model.bind_port(port["id"], chassis)

    def device_removed(self, chassis: str, device: PortInfo) -> None:
        port = self.model.port_by_device_name(device.name)
        if port is not None and port["binding:host_id"] == chassis:
            self.model.unbind_port(port["id"])

    def integration_bridge_synced(self, chassis: str, devices: list[PortInfo]) -> None:
        """After (re)connecting: bind what is plugged, and put down what no longer is."""
        present = {device.name for device in devices if device.kind == "vm"}
        for device in devices:
            self.device_added(chassis, device)
        for port in list(self.model.records["port"].values()):
            if (port["binding:host_id"] == chassis and port["status"] == "ACTIVE"
                    and not port["device_owner"].startswith("network:")
                    and not present & {vm_device_name(port["id"], p) for p in ("tap", "qvo")}):
                self.model.unbind_port(port["id"])
