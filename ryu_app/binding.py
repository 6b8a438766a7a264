"""Port binding as Nova and Neutron's agent do it: a VM device on a chassis' br-int binds
its port there (pure).

A device stands for a port by ``external_ids:iface-id`` (what Nova/libvirt and OVN use),
or, without it, by its name: ``tap``/``qvo`` + the first 11 characters of the port id.
Its appearing makes the port ACTIVE on that chassis; its leaving makes it DOWN.  A port
bound to a live device stays with it: another chassis' device for it (Nova's destination
VIF during a live migration, a stale one) binds nothing until the API moves
``binding:host_id`` there, and a port the API gave a host binds only there, even while
its device is gone, as Neutron's agents take only the ports bound to their host.  A port
no one gave a host follows its device (a cold move without Nova).  Devices that name no
known port are ignored (and kept in the dead VLAN).  A chassis whose agent the operator
disabled takes no new bindings: a port not bound there before fails to bind
(``binding_failed``, DOWN, its device in the dead VLAN) until the agent is enabled.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from ryu_app.model.tenant import (BOUND_VNIC_TYPE, NetworkModel, host_named_by_api,
                                  is_bound_vm_port)
from topology.naming import PortInfo, port_id_prefix

LOG = logging.getLogger(__name__)


def port_of_device(model: NetworkModel, device: PortInfo) -> dict | None:
    """The port a VM device stands for: by iface-id, else by the tap/qvo name rule."""
    if device.iface_id:
        return model.records["port"].get(device.iface_id)
    prefix = port_id_prefix(device.name)
    port_id = model.port_by_prefix.get(prefix) if prefix else None
    return model.records["port"].get(port_id) if port_id else None


def _claims(port: dict, chassis: str) -> bool:
    """Whether a device on the chassis may take the port: one with no host or this one;
    elsewhere, only a port whose device there is gone and whose host was where its device
    appeared, not the API's choice (Nova names the host and moves it: a device elsewhere
    is then stale, however long the port has been down)."""
    host = port["binding:host_id"]
    if not host or host == chassis:
        return True
    return not host_named_by_api(port) and port["status"] != "ACTIVE" and \
        port.get("admin_state_up", True)


class PortBinder:
    def __init__(self, model: NetworkModel):
        self.model = model

    def devices_moved(self, chassis: str, added: Iterable[PortInfo],
                      removed: Iterable[PortInfo], gone: Iterable[str] = (),
                      plugged: Callable[[str], bool] = lambda port_id: False) -> None:
        """VM devices that came and went on the chassis' br-int, and ports (``gone``,
        ids) bound there whose devices are no more: one write for all.  ``plugged`` says
        whether a port still has a device there (a replaced one went, its successor
        stays): its removed device does not put it down."""
        bound, failed, unbound = {}, {}, set(gone)
        for device in removed:
            port = port_of_device(self.model, device)
            if port is not None and port["binding:host_id"] == chassis and \
                    not plugged(port["id"]):
                unbound.add(port["id"])
        for device in added:
            port = port_of_device(self.model, device)
            if port is None:
                LOG.info("device %s on %s names no known port; ignored", device.name, chassis)
            elif not _claims(port, chassis):
                LOG.info("device %s on %s names port %s, bound on %s: ignored", device.name,
                         chassis, port["id"], port["binding:host_id"])
            elif self._may_bind(port, chassis):
                bound[port["id"]] = chassis
                unbound.discard(port["id"])
            elif is_bound_vm_port(port):   # a stale device must not take a live port away
                LOG.info("device %s on %s names port %s, bound on %s: ignored while the "
                         "agent is disabled", device.name, chassis, port["id"],
                         port["binding:host_id"])
            else:
                LOG.info("port %s not bound on %s: its agent is disabled", port["id"], chassis)
                failed[port["id"]] = chassis
                unbound.discard(port["id"])
        self.model.set_bindings(bound, unbound, failed)

    def _may_bind(self, port: dict, chassis: str) -> bool:
        """An enabled agent binds a normal VIF of anything its hypervisor carries (a VLAN
        or flat network only where its physical network is mapped); a disabled one only
        what it had bound."""
        network = self.model.records["network"][port["network_id"]]
        if port.get("binding:vnic_type", BOUND_VNIC_TYPE) != BOUND_VNIC_TYPE or (
                self.model.vif_details is not None
                and self.model.vif_details(chassis, network) is None):
            return False
        return self.model.takes_new_bindings(chassis) or (
            port["binding:host_id"] == chassis and port["binding:vif_type"] == "ovs")

    def integration_bridge_synced(self, chassis: str, devices: Iterable[PortInfo]) -> None:
        """After (re)connecting: bind what is plugged, and put down what no longer is."""
        devices = list(devices)
        present = {port["id"] for device in devices
                   if (port := port_of_device(self.model, device)) is not None}
        self.devices_moved(chassis, devices, [], gone=[
            port["id"] for port in self.model.records["port"].values()
            if is_bound_vm_port(port, chassis) and port["id"] not in present])
