"""North-south in the tenant model: external networks, router gateways and floating IPs,
with the ports Neutron makes for them (../shared/seeds/003_*.txt sets a router's gateway
on an external network and explains floating IPs; 004_*.txt follows a VM's ping through
the SNAT namespace of the network node).

* ``external_gateway_info`` makes the router's ``network:router_gateway`` port (qg-) on
  the external network and, for a distributed router, one
  ``network:router_centralized_snat`` port (sg-) per routed subnet: the address its VMs'
  outside traffic is sent to, on the hypervisor that does the SNAT.
* A floating IP is a ``network:floatingip`` port on the external network; associated with
  a VM's port it is served on the VM's own hypervisor, which gets one
  ``network:floatingip_agent_gateway`` port (fg-) per external network it serves floating
  IPs on: its MAC is what the outside sees the floating IPs of that hypervisor at.

A mixin of ``NetworkModel`` (ryu_app/model/tenant.py), which it shares the batches, the
indexes and the address allocation with.
"""
from __future__ import annotations

import ipaddress
import uuid

from ryu_app.model.errors import BadRequest, Conflict, NotFound
from ryu_app.model.segments import PROVIDER_TYPES
from ryu_app.model.security_groups import is_trusted

GATEWAY_OWNER = "network:router_gateway"
SNAT_OWNER = "network:router_centralized_snat"
FLOATING_OWNER = "network:floatingip"
FIP_GATEWAY_OWNER = "network:floatingip_agent_gateway"
L3_OWNERS = (GATEWAY_OWNER, SNAT_OWNER, FLOATING_OWNER, FIP_GATEWAY_OWNER)


def fip_gateway_device(host: str) -> str:
    """The fg- port's device_id: the L3 agent of its host (a stable id per host)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"neutron-ryu-l3-agent:{host}"))


class NorthSouth:
    """Router gateways and floating IPs (methods of NetworkModel)."""

    # --------------------------------------------------------------- reading

    def gateway_port_of(self, router_id: str) -> dict | None:
        port_id = self.gateway_port.get(router_id)
        return self.records["port"][port_id] if port_id else None

    def snat_port_of(self, router_id: str, network_id: str) -> dict | None:
        """The router's sg- port on a network, if it has a gateway (distributed)."""
        for port_id in self.snat_ports.get(router_id, ()):
            port = self.records["port"][port_id]
            if port["network_id"] == network_id:
                return port
        return None

    def floatingips_of(self, port_id: str) -> list[dict]:
        return [self.records["floatingip"][fip_id]
                for fip_id in self.fips_of_port.get(port_id, ())]

    def fip_gateway_port(self, network_id: str, host: str) -> dict | None:
        port_id = self.fip_gateways.get((network_id, host))
        return self.records["port"][port_id] if port_id else None

    def _render_router(self, record: dict) -> dict:
        info = record["external_gateway_info"]
        if info is None:
            return record
        port = self.gateway_port_of(record["id"])
        fixed = [{"subnet_id": ip["subnet_id"], "ip_address": ip["ip_address"]}
                 for ip in (port["fixed_ips"] if port else [])]
        return {**record, "external_gateway_info": {**info, "external_fixed_ips": fixed}}

    # -------------------------------------------------------- router gateway

    def _gateway_written(self, batch, router: dict, requested: dict | None) -> dict | None:
        """The router's gateway as ``requested`` (None or {}: none): its qg- port made,
        moved or removed, its sg- ports following; the record's stored info."""
        current = self.gateway_port_of(router["id"])
        if not requested:
            if current is not None:
                self._refuse_gateway_needed(router["id"], None)
                batch.delete("port", current["id"])
            self._snat_ports_follow(batch, router, None)
            return None
        network = self._external_network(requested["network_id"], "router gateway")
        if not self.subnets_of.get(network["id"]):
            raise BadRequest(f"Bad router request: No subnets defined on external network "
                             f"{network['id']}.", "BadRequest")
        wanted_ips = requested.get("external_fixed_ips")
        if current is None or current["network_id"] != network["id"]:
            self._refuse_interface_subnets(router["id"], network["id"])
        if current is not None and current["network_id"] != network["id"]:
            self._refuse_gateway_needed(router["id"], network["id"])
            batch.delete("port", current["id"])
            current = None
        if current is None:
            port_id = str(uuid.uuid4())
            fixed_ips = self._assign_ips(network["id"], wanted_ips or None, port_id, batch)
            self._refuse_subnet_gateway(fixed_ips, wanted_ips)
            port = self._service_port(network["id"], "", router["id"], GATEWAY_OWNER,
                                      fixed_ips)
            batch.put("port", {**port, "id": port_id})
        elif wanted_ips:   # [] changes nothing, as in Neutron
            fixed_ips = self._assign_ips(network["id"], wanted_ips, current["id"], batch)
            self._refuse_subnet_gateway(fixed_ips, wanted_ips)
            if fixed_ips != current["fixed_ips"]:
                batch.put("port", self._updated(current, {"fixed_ips": fixed_ips}))
        self._snat_ports_follow(batch, router, network["id"])
        enable_snat = requested.get("enable_snat", True)
        return {"network_id": network["id"], "enable_snat": enable_snat}

    def _refuse_interface_subnets(self, router_id: str, network_id: str) -> None:
        """A gateway on a network one of whose subnets is already one of the router's
        interfaces is refused, as Neutron's _check_for_dup_router_subnets does."""
        subnets = self.subnets_of.get(network_id, ())
        for port_id in self.interfaces_of.get(router_id, ()):
            for ip in self.records["port"][port_id]["fixed_ips"]:
                if ip["subnet_id"] in subnets:
                    raise BadRequest(f"Bad router request: Router already has a port on "
                                     f"subnet {ip['subnet_id']}.", "BadRequest")

    def _refuse_subnet_gateway(self, fixed_ips: list[dict], wanted: list[dict] | None) -> None:
        """A router's gateway never takes its subnet's gateway address, the upstream
        router's."""
        named = {item["ip_address"] for item in wanted or () if "ip_address" in item}
        for ip in fixed_ips:
            if ip["ip_address"] in named and ip["ip_address"] == self.records["subnet"][
                    ip["subnet_id"]]["gateway_ip"]:
                raise BadRequest(f"Bad router request: External IP {ip['ip_address']} is "
                                 "the same as the gateway IP.", "BadRequest")

    def _external_network(self, network_id: str, use: str) -> dict:
        network = self.records["network"].get(network_id)
        if network is None:
            raise NotFound(f"Network {network_id} could not be found.", "NetworkNotFound")
        if not network["router:external"]:
            raise BadRequest(f"Bad {use} request: Network {network_id} is not a valid "
                             "external network.", "BadRequest")
        if network["provider:network_type"] not in PROVIDER_TYPES:
            raise BadRequest(f"Bad {use} request: external network {network_id} is "
                             f"{network['provider:network_type']}; an external network must "
                             "be flat or VLAN on a physical network the hypervisors map.",
                             "BadRequest")
        return network

    def refuse_external_in_use(self, network_id: str) -> None:
        """An external network stays external while a router's gateway or a floating IP
        is on it (Neutron's ExternalNetworkInUse)."""
        owners = {self.records["port"][port_id]["device_owner"]
                  for port_id in self.ports_of.get(network_id, ())}
        if owners & {GATEWAY_OWNER, FLOATING_OWNER}:
            raise Conflict(f"External network {network_id} cannot be updated to be made "
                           "non-external, since it has existing gateway ports or floating "
                           "IPs.", "ExternalNetworkInUse")

    def _refuse_gateway_needed(self, router_id: str, network_id: str | None) -> None:
        """A router keeps its gateway while floating IPs reach their VMs through it."""
        for fip in self.records["floatingip"].values():
            if fip["router_id"] == router_id and fip["floating_network_id"] != network_id:
                raise Conflict(f"Gateway cannot be updated for router {router_id}, since a "
                               f"gateway to external network {fip['floating_network_id']} "
                               "is required by one or more floating IPs.",
                               "RouterExternalGatewayInUseByFloatingIp")

    def _snat_ports_follow(self, batch, router: dict, gateway_network: str | None,
                           interfaces: list[dict] | None = None) -> None:
        """One sg- port per routed network of a distributed router with a gateway, with
        an address in each of the router's subnets there; none without a gateway.  A
        network's sg- port keeps its id, MAC and the addresses it has when the router's
        subnets there change, as Neutron's does: a full subnet then refuses no other."""
        if interfaces is None:
            interfaces = [self.records["port"][port_id]
                          for port_id in self.interfaces_of.get(router["id"], ())]
        wanted: dict[str, list[dict]] = {}
        if gateway_network is not None and router["distributed"]:
            for interface in interfaces:
                wanted.setdefault(interface["network_id"], []).extend(
                    {"subnet_id": ip["subnet_id"]} for ip in interface["fixed_ips"])
        existing = {}
        for port_id in self.snat_ports.get(router["id"], ()):
            port = self.records["port"][port_id]
            if port["network_id"] in wanted:
                existing[port["network_id"]] = port
            else:
                batch.delete("port", port_id)
        for network_id, requested in wanted.items():
            port = existing.get(network_id)
            if port is not None and [ip["subnet_id"] for ip in port["fixed_ips"]] == [
                    item["subnet_id"] for item in requested]:
                continue
            port_id = port["id"] if port is not None else str(uuid.uuid4())
            fixed_ips = self._assign_ips(network_id, requested, port_id, batch)
            if port is not None:
                batch.put("port", self._updated(port, {"fixed_ips": fixed_ips}))
            else:
                port = self._service_port(network_id, "", router["id"], SNAT_OWNER, fixed_ips)
                batch.put("port", {**port, "id": port_id})

    # ----------------------------------------------------------- floating IPs

    def create_floatingip(self, values: dict, project: str | None = None) -> dict:
        network = self._external_network(values["floating_network_id"], "floating IP")
        record = self._new_record({key: value for key, value in values.items()
                                   if key not in ("subnet_id", "floating_ip_address")},
                                  project)
        requested = {}
        if values["subnet_id"] is not None:
            requested["subnet_id"] = values["subnet_id"]
        if values["floating_ip_address"] is not None:
            requested["ip_address"] = values["floating_ip_address"]
        if not self.subnets_of.get(network["id"]):
            raise BadRequest(f"Bad floating IP request: external network {network['id']} "
                             "has no subnet.", "BadRequest")
        port_id = str(uuid.uuid4())
        fixed_ips = self._assign_ips(network["id"], [requested] if requested else None,
                                     port_id)
        address = next((ip["ip_address"] for ip in fixed_ips
                        if ":" not in ip["ip_address"]), None)
        record.update(floating_ip_address=address, status="DOWN")   # named in its errors
        record.update(self._association(record, values["port_id"], values["fixed_ip_address"]))
        batch = self._new_batch()
        port = self._service_port(network["id"], "", record["id"], FLOATING_OWNER, fixed_ips)
        batch.put("port", {**port, "id": port_id})
        batch.put("floatingip", record)
        self._commit(batch)
        self.sync_fip_gateways()
        return self.render("floatingip", record)

    def update_floatingip(self, fip_id: str, values: dict) -> dict:
        record = self.get("floatingip", fip_id)
        changes = {key: value for key, value in values.items()
                   if key not in ("port_id", "fixed_ip_address")}
        if "port_id" in values:
            changes.update(self._association(record, values["port_id"],
                                             values.get("fixed_ip_address")))
        elif "fixed_ip_address" in values:
            raise BadRequest("Bad floating IP request: fixed_ip_address needs port_id.",
                             "BadRequest")
        if "port_id" in changes and changes["port_id"] is None:
            changes["status"] = "DOWN"
        batch = self._new_batch()
        batch.put("floatingip", self._updated(record, changes))
        self._commit(batch)
        self.sync_fip_gateways()
        return self.render("floatingip", self.records["floatingip"][fip_id])

    def unassociated_floatingip(self, port: dict) -> dict | None:
        """The floating IP a port holds the address of, if it is associated with nothing."""
        if port["device_owner"] != FLOATING_OWNER:
            return None
        fip = self.records["floatingip"].get(port["device_id"])
        return fip if fip is not None and fip["port_id"] is None else None

    def refuse_floating_address_change(self, port_id: str, fixed_ips: list[dict]) -> None:
        """A port keeps the fixed IP a floating IP DNATs to (Neutron's
        prevent_internal_ip_change_for_fip)."""
        addresses = {ip["ip_address"] for ip in fixed_ips}
        if any(fip["fixed_ip_address"] not in addresses for fip in self.floatingips_of(port_id)):
            raise BadRequest(f"Bad port request: Cannot update the fixed_ips of the port "
                             f"{port_id}, because its original fixed_ip has been associated "
                             "to a floating ip.", "BadRequest")

    def delete_floatingip(self, fip_id: str) -> None:
        self.get("floatingip", fip_id)
        batch = self._new_batch()
        batch.delete("floatingip", fip_id)
        port_id = self.fip_port.get(fip_id)
        if port_id is not None:
            batch.delete("port", port_id)
        self._commit(batch)
        self.sync_fip_gateways()

    def set_floatingip_status(self, statuses: dict[str, str]) -> None:
        """Statuses the data path reached ({fip: ACTIVE|DOWN}); unknown ids skipped."""
        batch = self._new_batch()
        for fip_id, status in statuses.items():
            record = self.records["floatingip"].get(fip_id)
            if record is not None and record["status"] != status:
                batch.put("floatingip", self._updated(record, {"status": status}))
        if batch.puts:
            self._commit(batch)

    def _association(self, fip: dict, port_id: str | None, fixed_ip: str | None) -> dict:
        """The fields of a floating IP associated with a port's fixed IP (or with none)."""
        if port_id is None:
            if fixed_ip is not None:
                raise BadRequest("Bad floating IP request: fixed_ip_address needs port_id.",
                                 "BadRequest")
            return {"port_id": None, "fixed_ip_address": None, "router_id": None}
        port = self.records["port"].get(port_id)
        if port is None:
            raise NotFound(f"Port {port_id} could not be found.", "PortNotFound")
        if is_trusted(port):
            raise BadRequest(f"Bad floating IP request: Port {port_id} has owner "
                             f"{port['device_owner']} and therefore cannot be associated "
                             "with a floating IP.", "BadRequest")
        fixed = self._fixed_ip_for(port, fixed_ip)
        subnet_id = fixed["subnet_id"]
        router_id = self.router_of_subnet.get(subnet_id)
        router = self.records["router"].get(router_id) if router_id else None
        info = router["external_gateway_info"] if router else None
        if info is None or info["network_id"] != fip["floating_network_id"]:
            raise NotFound(f"External network {fip['floating_network_id']} is not reachable "
                           f"from subnet {subnet_id}.  Therefore, cannot associate Port "
                           f"{port_id} with a Floating IP.",
                           "ExternalGatewayForFloatingIPNotFound")
        for other_id in self.fips_of_port.get(port_id, ()):
            other = self.records["floatingip"][other_id]
            if other_id != fip["id"] and other["fixed_ip_address"] == fixed["ip_address"]:
                raise Conflict(f"Cannot associate floating IP {fip.get('floating_ip_address')}"
                               f" ({fip['id']}) with port {port_id} using fixed IP "
                               f"{fixed['ip_address']}, as that fixed IP already has a "
                               f"floating IP on external network "
                               f"{other['floating_network_id']}.",
                               "FloatingIPPortAlreadyAssociated")
        return {"port_id": port_id, "fixed_ip_address": fixed["ip_address"],
                "router_id": router_id}

    @staticmethod
    def _fixed_ip_for(port: dict, fixed_ip: str | None) -> dict:
        ipv4 = [ip for ip in port["fixed_ips"] if ":" not in ip["ip_address"]]
        if fixed_ip is not None:
            for ip in ipv4:
                if ipaddress.IPv4Address(ip["ip_address"]) == ipaddress.IPv4Address(fixed_ip):
                    return ip
            raise BadRequest(f"Bad floating IP request: Port {port['id']} does not have "
                             f"fixed ip {fixed_ip}.", "BadRequest")
        if not ipv4:
            raise BadRequest(f"Bad floating IP request: Cannot add floating IP to port "
                             f"{port['id']} that has no fixed IPv4 addresses.", "BadRequest")
        if len(ipv4) > 1:
            raise BadRequest(f"Bad floating IP request: Port {port['id']} has multiple fixed "
                             "IPv4 addresses.  Must provide a specific IPv4 address when "
                             "assigning a floating IP.", "BadRequest")
        return ipv4[0]

    def _fips_lose_port(self, batch, port_id: str) -> None:
        """A VM port deleted: its floating IPs lose the association, as Neutron
        disassociates them (readdressing it away from one is refused)."""
        for fip in self.floatingips_of(port_id):
            batch.put("floatingip", self._updated(fip, {
                "port_id": None, "fixed_ip_address": None, "router_id": None,
                "status": "DOWN"}))

    def _refuse_interface_needed(self, router_id: str, interface: dict) -> None:
        subnets = {ip["subnet_id"] for ip in interface["fixed_ips"]}
        for fip in self.records["floatingip"].values():
            port = self.records["port"].get(fip["port_id"]) if fip["port_id"] else None
            if fip["router_id"] == router_id and port and any(
                    ip["subnet_id"] in subnets and ip["ip_address"] == fip["fixed_ip_address"]
                    for ip in port["fixed_ips"]):
                raise Conflict(f"Router interface for subnet {sorted(subnets)[0]} on router "
                               f"{router_id} cannot be deleted, as it is required by one or "
                               "more floating IPs.", "RouterInterfaceInUseByFloatingIP")

    # -------------------------------------------- floating IP agent gateways

    def sync_fip_gateways(self) -> None:
        """One fg- port per (external network, host) where a floating IP's port is bound
        (``ovs``: a failed binding names a host that serves nothing, maybe none that
        exists, and each fg- port takes an external address), none elsewhere: made and
        removed as floating IPs and bindings move."""
        wanted = set()
        for fip in self.records["floatingip"].values():
            port = self.records["port"].get(fip["port_id"]) if fip["port_id"] else None
            if port is not None and port["binding:host_id"] and \
                    port["binding:vif_type"] == "ovs":
                wanted.add((fip["floating_network_id"], port["binding:host_id"]))
        batch = self._new_batch()
        for key, port_id in self.fip_gateways.items():
            if key not in wanted:
                batch.delete("port", port_id)
        for network_id, host in sorted(wanted - set(self.fip_gateways)):
            port_id = str(uuid.uuid4())
            try:
                fixed_ips = self._assign_ips(network_id, None, port_id, batch)
            except Conflict:
                continue   # the external subnet is full: that host serves no floating IP
            port = self._service_port(network_id, "", fip_gateway_device(host),
                                      FIP_GATEWAY_OWNER, fixed_ips)
            batch.put("port", {**port, "id": port_id, "binding:host_id": host})
        if batch.puts or batch.deletes:
            self._commit(batch)

    # ------------------------------------------------------------- indexes

    def _index_l3_port(self, port: dict) -> None:
        owner, device = port["device_owner"], port["device_id"]
        if owner == GATEWAY_OWNER:
            self.gateway_port[device] = port["id"]
        elif owner == SNAT_OWNER:
            self.snat_ports.setdefault(device, {})[port["id"]] = None
        elif owner == FLOATING_OWNER:
            self.fip_port[device] = port["id"]
        elif owner == FIP_GATEWAY_OWNER:
            self.fip_gateways[(port["network_id"], port["binding:host_id"])] = port["id"]

    def _unindex_l3_port(self, port: dict) -> None:
        owner, device = port["device_owner"], port["device_id"]
        if owner == GATEWAY_OWNER and self.gateway_port.get(device) == port["id"]:
            del self.gateway_port[device]
        elif owner == SNAT_OWNER:
            self.snat_ports.get(device, {}).pop(port["id"], None)
        elif owner == FLOATING_OWNER and self.fip_port.get(device) == port["id"]:
            del self.fip_port[device]
        elif owner == FIP_GATEWAY_OWNER:
            key = (port["network_id"], port["binding:host_id"])
            if self.fip_gateways.get(key) == port["id"]:
                del self.fip_gateways[key]

    def _index_floatingip(self, fip: dict) -> None:
        if fip["port_id"]:
            self.fips_of_port.setdefault(fip["port_id"], {})[fip["id"]] = None

    def _unindex_floatingip(self, fip: dict) -> None:
        if fip["port_id"]:
            self.fips_of_port.get(fip["port_id"], {}).pop(fip["id"], None)
