"""Neutron's availability zones (``availability_zone``, ``network_availability_zone``,
``router_availability_zone``), where the zones are the hypervisors'.

Each hypervisor names its zone in its own database (``nova`` unless it says otherwise,
see ``topology/chassis.py``) and serves both resources: DHCP and DVR routing are in
every hypervisor's data plane here, not on agents of their own.  So a zone offers
networks and routers, and it is ``available`` while one of its hypervisors' agents is
enabled.  A network is in the zones of the hypervisors where its VMs are (its DHCP is
served there); a router in those of its interfaces' networks.  Hints are checked
against the zones the hypervisors name, as Neutron checks them against its agents';
a router's centralized SNAT is placed only in its hinted zones when it has hints.
"""
from __future__ import annotations

from typing import Callable, Iterable

from ryu_app.model.errors import AvailabilityZoneNotFound

ZONE_RESOURCES = ("network", "router")
HostZones = Callable[[], dict[str, str]]   # hypervisor -> its zone


class AvailabilityZones:
    """The zone operations of NetworkModel; ``bound_on``, ``interfaces_of``, ``records``
    and ``takes_new_bindings`` are the model's own."""

    def _init_zones(self, host_zones: HostZones | None) -> None:
        self.host_zones = host_zones or dict

    def availability_zones(self) -> list[dict]:
        """``GET /v2.0/availability_zones``: each zone once per resource it offers."""
        enabled: dict[str, bool] = {}
        for host, zone in self.host_zones().items():
            enabled[zone] = enabled.get(zone, False) or self.takes_new_bindings(host)
        return [{"name": zone, "resource": resource,
                 "state": "available" if enabled[zone] else "unavailable"}
                for zone in sorted(enabled) for resource in ZONE_RESOURCES]

    def check_zone_hints(self, hints: Iterable[str]) -> None:
        """Every hinted zone must be one a hypervisor names."""
        known = set(self.host_zones().values())
        for hint in hints:
            if hint not in known:
                raise AvailabilityZoneNotFound(availability_zone=hint)

    def network_zones(self, network_id: str) -> list[str]:
        """The zones of the hypervisors with the network's VMs."""
        return self._zones_of_vms([network_id])

    def router_zones(self, router_id: str) -> list[str]:
        """The zones of the hypervisors with VMs on the router's networks."""
        return self._zones_of_vms({self.records["port"][port_id]["network_id"]
                                   for port_id in self.interfaces_of.get(router_id, ())})

    def _zones_of_vms(self, networks: Iterable[str]) -> list[str]:
        zones = self.host_zones()
        return sorted({zones[host] for network_id in networks
                       for host in self.bound_on.get(network_id, ()) if host in zones})
