"""Neutron's ``network-ip-availability`` extension (``openstack ip availability list``):
per network and per subnet, how many addresses its allocation pools hold and how many
are allocated (pure, read from the model).

As Neutron counts them: a subnet's total is the size of its allocation pools (its whole
CIDR when it has none), its used addresses every allocation in it, inside the pools or
not (a router's or the DHCP port's included); a network's figures are its subnets' sums,
a network without subnets is listed with zeros.
"""
from __future__ import annotations

import ipaddress
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ryu_app.model.tenant import NetworkModel


def availabilities(model: "NetworkModel") -> list[dict]:
    """Every network's availability, in the order the networks were made."""
    used = Counter(subnet_id for subnet_id, _ in model.ip_holder)
    return [_network_entry(model, network, used)
            for network in model.records["network"].values()]


def _network_entry(model: "NetworkModel", network: dict, used: Counter) -> dict:
    subnets = [_subnet_entry(model.records["subnet"][subnet_id], used[subnet_id])
               for subnet_id in model.subnets_of.get(network["id"], ())]
    return {"network_id": network["id"], "network_name": network["name"],
            "project_id": network["project_id"], "tenant_id": network["project_id"],
            "total_ips": sum(subnet["total_ips"] for subnet in subnets),
            "used_ips": sum(subnet["used_ips"] for subnet in subnets),
            "subnet_ip_availability": subnets}


def _subnet_entry(subnet: dict, used: int) -> dict:
    pools = subnet["allocation_pools"]
    total = (sum(int(ipaddress.IPv4Address(pool["end"])) - int(ipaddress.IPv4Address(
        pool["start"])) + 1 for pool in pools) if pools
        else ipaddress.IPv4Network(subnet["cidr"]).num_addresses)
    return {"subnet_id": subnet["id"], "subnet_name": subnet["name"], "cidr": subnet["cidr"],
            "ip_version": subnet["ip_version"], "total_ips": total, "used_ips": used}
