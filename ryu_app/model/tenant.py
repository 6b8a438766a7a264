"""The tenant network model: Neutron's networks, subnets, ports and routers.

Every write validates first, then commits one store transaction, then updates
memory and notes what changed in a journal that the engine takes; a write that
fails changes nothing.  Records are
the API documents themselves; everything derivable from them (addresses held,
segments used, ports per network) lives in indexes rebuilt from the records.
"""
from __future__ import annotations

import datetime
import ipaddress
import logging
import random
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from ryu_app.dhcp import options as dhcp_options
from ryu_app.model import agents, ipam, security_groups, subnet_pools
from ryu_app.model.agents import AgentSettings
from ryu_app.model.availability_zones import AvailabilityZones, HostZones
from ryu_app.model.errors import BadRequest, Conflict, InvalidInput, NotFound, not_found
from ryu_app.model.north_south import L3_OWNERS, NorthSouth
from ryu_app.model.quotas import Quotas
from ryu_app.model.security_groups import SecurityGroups
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store
from ryu_app.model.subnet_pools import SubnetPools
from ryu_app.model.tags import Tags
from ryu_app.settings import DEFAULT_SETTINGS, Settings
from topology.naming import PORT_ID_PREFIX_LEN

LOG = logging.getLogger(__name__)
ROUTER_INTERFACE_OWNERS = ("network:router_interface", "network:router_interface_distributed")
# The port that stands for a network's DHCP server: its address in each DHCP-enabled
# subnet and its MAC are the server's identity (the VM's hypervisor answers for it).
DHCP_OWNER = "network:dhcp"
# Ports a network owns for its own services: deleted with it, never "in use".
SERVICE_OWNERS = (DHCP_OWNER,)
# Encapsulation overhead over a 1500-byte underlay: VXLAN 50, GRE 42 bytes.
TUNNEL_OVERHEAD = {"vxlan": 50, "gre": 42}
# Neutron's max_dns_nameservers, max_subnet_host_routes and max_fixed_ips_per_port, at
# their defaults (each address a port holds costs flows on every hypervisor of its network)
MAX_DNS_NAMESERVERS, MAX_HOST_ROUTES, MAX_FIXED_IPS_PER_PORT = 5, 20, 5
BOUND_VNIC_TYPE = "normal"   # the only VIF an Open vSwitch port is (ML2's OVS driver's)

Change = tuple[str, "dict | None", "dict | None"]   # (kind, old record, new record)
# A port's stored mark (never on the wire) that its binding:host_id is the API's (Nova's)
# choice, not where its device happened to appear: only the API moves such a port.
HOST_NAMED_BY_API = "host_named_by_api"
BOOKKEEPING = ("updated_at", "revision_number")   # what every write moves on
PROVIDER_ATTRIBUTES = ("provider:network_type", "provider:physical_network",
                       "provider:segmentation_id")


def host_named_by_api(port: dict) -> bool:
    """Whether the port's host is the API's choice; a record stored before the mark
    counts as named while no device has bound it (``unbound`` with a host)."""
    return bool(port["binding:host_id"]) and port.get(
        HOST_NAMED_BY_API, port["binding:vif_type"] == "unbound")


def pair_macs(port: dict) -> set[str]:
    """The MACs other than its own that a port's allowed address pairs name."""
    return {pair["mac_address"] for pair in port.get("allowed_address_pairs", ())
            if pair.get("mac_address") and pair["mac_address"] != port["mac_address"]}


def is_bound_vm_port(port: dict, chassis: str | None = None) -> bool:
    """A compute (non-network:*) port, enabled, whose device is up on a chassis (that one,
    if given)."""
    return (port["status"] == "ACTIVE" and bool(port["binding:host_id"])
            and port.get("admin_state_up", True)
            and not security_groups.is_trusted(port)
            and chassis in (None, port["binding:host_id"]))


def _check_subnet_settings(subnet: dict, keys: set[str]) -> None:
    """Neutron's limits on a subnet's settings, and the ranges dnsmasq could not serve:
    those of ``keys``, the settings being written."""
    name = subnet.get("id") or "new subnet"
    if "dns_nameservers" in keys and len(subnet["dns_nameservers"]) > MAX_DNS_NAMESERVERS:
        raise BadRequest(f"Unable to complete operation for {name}. The number of DNS "
                         f"nameservers exceeds the limit {MAX_DNS_NAMESERVERS}.",
                         "DNSNameServersExhausted")
    if "host_routes" in keys and len(subnet["host_routes"]) > MAX_HOST_ROUTES:
        raise BadRequest(f"Unable to complete operation for {name}. The number of host "
                         f"routes exceeds the limit {MAX_HOST_ROUTES}.", "HostRoutesExhausted")
    cidr = ipaddress.IPv4Network(subnet["cidr"])
    if "enable_dhcp" in keys and subnet["enable_dhcp"]:
        if cidr.is_multicast:
            raise InvalidInput("Invalid input for operation: Multicast IP subnet is not "
                               "supported if enable_dhcp is True.")
        if cidr.is_loopback:
            raise InvalidInput("Invalid input for operation: Loopback IP subnet is not "
                               "supported if enable_dhcp is True.")
        if int(cidr.network_address) == 0:
            raise InvalidInput("Invalid input for operation: First IP '0.0.0.0' of network "
                               "is not supported if enable_dhcp is True.")


def _refuse_too_many_ips(requested: list[dict] | None, device_owner: str) -> None:
    """Neutron's limit of fixed IPs on a port it does not make itself (a router's or the
    DHCP port's are not counted)."""
    if requested and len(requested) > MAX_FIXED_IPS_PER_PORT and not \
            security_groups.is_trusted({"device_owner": device_owner}):
        raise InvalidInput("Exceeded maximum amount of fixed ips per port.")


def _same_addresses(requested: list[dict], held: list[dict]) -> bool:
    """Whether a fixed_ips write names exactly the addresses held, in any order (an entry
    without an address asks for a new one)."""
    return sorted(str(entry.get("ip_address")) for entry in requested) == sorted(
        entry["ip_address"] for entry in held)


def _extra_dhcp_opts(current: list[dict], requested: list[dict]) -> list[dict]:
    """A port's extra DHCP options after a write, as Neutron merges them: keyed by
    (name, IP version), a null value removes one, any other adds or replaces it; IPv4
    ones must be servable (IPv6 ones are kept, not served: there is no DHCPv6 here)."""
    merged = {(item["opt_name"], item["ip_version"]): item for item in current}
    for item in requested:
        name, value, version = item["opt_name"], item["opt_value"], item.get("ip_version", 4)
        if value is None:
            merged.pop((name, version), None)
            continue
        if version == 4:
            try:
                dhcp_options.check(name, value)
            except ValueError as error:
                raise InvalidInput(f"Invalid input for operation: {error}.") from None
        merged[(name, version)] = {"opt_name": name, "opt_value": value, "ip_version": version}
    return list(merged.values())


def _as_they_are(record: dict, values: dict, names: tuple[str, ...], why: str) -> dict:
    """An update's values without those of attributes that cannot change here, when they
    are null (unset, as ML2 reads them) or repeat the stored value, as a client that
    re-sends a whole resource writes them; another value is a 400 saying ``why``."""
    for name in names:
        if name in values and values[name] not in (None, record.get(name)):
            raise InvalidInput(f"Invalid input for operation: {why}.")
    return {name: value for name, value in values.items() if name not in names}


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ip_int(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


@dataclass
class _Batch:
    """The documents one API write puts and deletes, committed together."""

    puts: list[tuple[str, dict]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    revised: set[tuple[str, str]] = field(default_factory=set)   # written even if restated

    def put(self, kind: str, record: dict) -> dict:
        self.puts.append((kind, record))
        return record

    def revise(self, kind: str, record: dict) -> None:
        """A record whose revision moves on though it did not change (a rule revises
        its group, as in Neutron)."""
        self.revised.add((kind, record["id"]))
        self.put(kind, record)

    def delete(self, kind: str, resource_id: str) -> None:
        self.deletes.append((kind, resource_id))

    def addresses_in(self, subnet_id: str) -> set[int]:
        """The subnet's addresses the ports put so far hold: not held by the model until
        the batch commits, so a second port of the same write must not be given one."""
        return {_ip_int(ip["ip_address"]) for kind, record in self.puts if kind == "port"
                for ip in record["fixed_ips"] if ip["subnet_id"] == subnet_id}


class NetworkModel(NorthSouth, SecurityGroups, SubnetPools, Tags, Quotas, AgentSettings,
                   AvailabilityZones):
    def __init__(self, store: Store, segments: SegmentPools, settings: Settings = DEFAULT_SETTINGS,
                 now: Callable[[], str] = utc_now, dhcp_host: str = "neutron-ryu",
                 host_zones: HostZones | None = None):
        self.store = store
        self.segments = segments
        self.default_project = settings.default_project_id
        self.global_mtu = settings.global_physnet_mtu
        self.tenant_network_types = settings.tenant_network_types
        self.enabled_network_types = settings.type_drivers
        self.now = now
        # Neutron's DHCP port device_id: 'dhcp' + uuid5 of the DHCP agent's host + network
        self.dhcp_device_prefix = "dhcp" + str(uuid.uuid5(uuid.NAMESPACE_DNS, dhcp_host))
        self.journal: list[Change] = []
        # The vif_details a hypervisor binds a port of a network with, None if it cannot
        # (the topology's answer); no hook, the model alone: a host the API names stays
        # unbound until a device binds the port there.
        self.vif_details: Callable[[str, dict], dict | None] | None = None
        self.records: dict[str, dict[str, dict]] = {
            "network": {}, "subnet": {}, "port": {}, "router": {}, "floatingip": {},
            "security_group": {}, "security_group_rule": {}, agents.KIND: {},
            subnet_pools.POOL: {}, subnet_pools.SCOPE: {}}
        self.subnets_of: dict[str, dict[str, None]] = {}    # network -> subnet ids, ordered
        self.subnets_in_pool: dict[str, dict[str, None]] = {}   # subnet pool -> subnet ids
        self.ports_of: dict[str, dict[str, None]] = {}      # network -> port ids, ordered
        self.addresses: dict[str, ipam.SubnetAddresses] = {}
        self.ip_holder: dict[tuple[str, int], str] = {}     # (subnet, ip) -> port id
        self.mac_holder: dict[tuple[str, str], str] = {}    # (network, mac) -> port id
        # (network, a MAC address pairs name) -> the ports whose pairs name it
        self.pair_mac_ports: dict[tuple[str, str], dict[str, None]] = {}
        self.port_by_prefix: dict[str, str] = {}            # device-name id prefix -> id
        self.interfaces_of: dict[str, dict[str, None]] = {}  # router -> interface port ids
        self.interfaces_on: dict[str, dict[str, None]] = {}  # network -> router interfaces
        # network -> host -> its bound VM ports there
        self.bound_on: dict[str, dict[str, dict[str, None]]] = {}
        self.router_of_subnet: dict[str, str] = {}
        self.dhcp_port_on: dict[str, str] = {}              # network -> its DHCP port id
        self.gateway_port: dict[str, str] = {}              # router -> its qg- port id
        self.snat_ports: dict[str, dict[str, None]] = {}    # router -> its sg- port ids
        self.fip_port: dict[str, str] = {}                  # floating IP -> its port id
        self.fip_gateways: dict[tuple[str, str], str] = {}  # (ext network, host) -> fg-
        self.fips_of_port: dict[str, dict[str, None]] = {}  # VM port -> its floating IPs
        self._init_security_groups()
        self._init_quotas(settings.quotas)
        self._init_zones(host_zones)
        for kind, records in store.load(self.records).items():
            for record in records.values():
                self._index(kind, record)
                self.records[kind][record["id"]] = record

    # ----------------------------------------------------------------- reading

    def get(self, kind: str, resource_id: str) -> dict:
        try:
            return self.records[kind][resource_id]
        except KeyError:
            raise not_found(kind, resource_id) from None

    def show(self, kind: str, resource_id: str) -> dict:
        return self.render(kind, self.get(kind, resource_id))

    def all(self, kind: str) -> Iterator[dict]:
        for record in self.records[kind].values():
            yield self.render(kind, record)

    def dhcp_port_of(self, network_id: str) -> dict | None:
        port_id = self.dhcp_port_on.get(network_id)
        return self.records["port"][port_id] if port_id else None

    def render(self, kind: str, record: dict) -> dict:
        """The API document: the stored record plus fields derived from other records."""
        if kind == "network":
            return {**record, "subnets": list(self.subnets_of.get(record["id"], ())),
                    "availability_zones": self.network_zones(record["id"]),
                    "ipv4_address_scope": self.network_address_scope(record["id"]),
                    "ipv6_address_scope": None}
        if kind == "router":
            return {**self._render_router(record),
                    "availability_zones": self.router_zones(record["id"])}
        if kind == "security_group":
            return self._render_security_group(record)
        return record

    # --------------------------------------------------------------- networks

    def create_network(self, values: dict, project: str | None = None) -> dict:
        network_type = values["provider:network_type"]
        if network_type is None:
            if values["provider:physical_network"] is not None or \
                    values["provider:segmentation_id"] is not None:
                raise InvalidInput("Invalid input for operation: network_type required.")
            network_type = self.tenant_network_types[0]
        if network_type not in self.enabled_network_types:
            raise InvalidInput(f"Invalid input for operation: network_type value "
                               f"'{network_type}' not supported.")
        self.check_zone_hints(values["availability_zone_hints"])
        physnet, seg = self.segments.choose(network_type, values["provider:physical_network"],
                                            values["provider:segmentation_id"])
        mtu = self.global_mtu - TUNNEL_OVERHEAD.get(network_type, 0)
        if values["mtu"] is not None:
            mtu = self._check_mtu(values["mtu"], mtu)
        record = {
            **self._new_record(values, project),
            "provider:network_type": network_type, "provider:physical_network": physnet,
            "provider:segmentation_id": seg, "mtu": mtu, "status": "ACTIVE",
        }
        return self._commit_one("network", record)

    def update_network(self, network_id: str, values: dict) -> dict:
        record = self.get("network", network_id)
        values = _as_they_are(record, values, PROVIDER_ATTRIBUTES,
                              "Plugin does not support updating provider attributes")
        if record["router:external"] and values.get("router:external") is False:
            self.refuse_external_in_use(network_id)
        if record["shared"] and values.get("shared") is False:
            self._refuse_unshare_in_use(record)
        if "mtu" in values:   # null: back to the largest, as a create without one
            largest = self.global_mtu - TUNNEL_OVERHEAD.get(record["provider:network_type"], 0)
            values["mtu"] = largest if values["mtu"] is None else self._check_mtu(
                values["mtu"], largest)
        return self._commit_one("network", self._updated(record, values))

    def _refuse_unshare_in_use(self, network: dict) -> None:
        """As Neutron: a shared network stays shared while another project has a port
        (not the controller's own) or a subnet on it."""
        ports = (self.records["port"][port_id] for port_id in self.ports_of.get(network["id"], ()))
        projects = {port["project_id"] for port in ports
                    if not security_groups.is_trusted(port)} | {
            self.records["subnet"][subnet_id]["project_id"]
            for subnet_id in self.subnets_of.get(network["id"], ())}
        if projects - {network["project_id"]}:
            raise Conflict(f"Unable to reconfigure sharing settings for network "
                           f"{network['id']}. Multiple tenants are using it.",
                           "InvalidSharedSetting")

    def delete_network(self, network_id: str) -> None:
        self.get("network", network_id)
        batch = _Batch()
        for port_id in self.ports_of.get(network_id, ()):
            port = self.records["port"][port_id]
            unused = self.unassociated_floatingip(port)   # they go with it, as in Neutron
            if port["device_owner"] not in SERVICE_OWNERS and unused is None:
                raise Conflict(f"Unable to complete operation on network {network_id}. "
                               "There are one or more ports still in use on the network.",
                               "NetworkInUse")
            if unused is not None:
                batch.delete("floatingip", unused["id"])
            batch.delete("port", port_id)
        for subnet_id in self.subnets_of.get(network_id, ()):
            batch.delete("subnet", subnet_id)
        batch.delete("network", network_id)
        self._commit(batch)

    @staticmethod
    def _check_mtu(requested: int, largest: int) -> int:
        if not 68 <= requested <= largest:
            raise InvalidInput(f"Invalid input for operation: Requested MTU {requested} is "
                               f"outside 68-{largest} for this network.")
        return requested

    # ----------------------------------------------------------------- subnets

    def create_subnet(self, values: dict, project: str | None = None) -> dict:
        network = self.get("network", values["network_id"])
        cidr, pool_id = self.pool_cidr(values)
        self.check_network_pool(network["id"], pool_id)
        self.check_pool_quota(pool_id, cidr, self._owner(values, project))
        if ipaddress.IPv4Network(cidr).prefixlen > 30:
            raise InvalidInput(f"Invalid input for operation: subnet {cidr} is too small; "
                               "use a prefix of /30 or shorter.")
        self._refuse_overlap(network["id"], cidr)
        gateway = values["gateway_ip"]
        if gateway is not None:
            gateway = ipam.default_gateway(cidr) if not isinstance(gateway, str) else gateway
            ipam.check_gateway(cidr, gateway)
        if values["allocation_pools"] is None:
            pools = ipam.default_pools(cidr, gateway)
        else:
            pools = ipam.check_pools(cidr, gateway, values["allocation_pools"])
        record = {
            **self._new_record(values, project), "cidr": cidr, "subnetpool_id": pool_id,
            "gateway_ip": gateway, "allocation_pools": ipam.pools_to_api(pools),
        }
        for request_only in ("prefixlen", "use_default_subnetpool"):
            del record[request_only]
        _check_subnet_settings(record, set(record))
        batch = _Batch()
        self._subnet_written(batch, record, ipam.SubnetAddresses(cidr, pools))
        self._commit(batch)
        return self.render("subnet", record)

    def update_subnet(self, subnet_id: str, values: dict) -> dict:
        current = self.get("subnet", subnet_id)
        fresh = None
        if "gateway_ip" in values or "allocation_pools" in values:
            fresh = self._readdressed(current, values)
        record = self._updated(current, values)
        # what an update sets, or DHCP turned on (a subnet an older release stored
        # keeps its other settings through a rename)
        checked = set(values) - ({"enable_dhcp"} if current["enable_dhcp"] else set())
        _check_subnet_settings(record, checked)
        batch = _Batch()
        self._subnet_written(batch, record, fresh)
        self._commit(batch)
        return self.render("subnet", record)

    def _readdressed(self, subnet: dict, values: dict) -> ipam.SubnetAddresses:
        """A new gateway or pools, checked as Neutron's update_subnet checks them (the
        gateway a router interface holds stays, the pools inside the CIDR and apart from
        the gateway); ``values`` gets the pools as stored, and the result allocates from
        them, with what ports hold now."""
        gateway = values.get("gateway_ip", subnet["gateway_ip"])
        if gateway != subnet["gateway_ip"]:
            for address in (subnet["gateway_ip"], gateway):
                holder = self.ip_holder.get((subnet["id"], _ip_int(address))) if address \
                    else None
                if holder is not None and (address == gateway or self.records["port"][
                        holder]["device_owner"] in ROUTER_INTERFACE_OWNERS):
                    which = "Gateway ip" if address == gateway else "Current gateway ip"
                    raise Conflict(f"{which} {address} already in use by port {holder}. "
                                   "Unable to update.", "GatewayIpInUse")   # Neutron's words
            if gateway is not None:
                ipam.check_gateway(subnet["cidr"], gateway)
        requested = values.get("allocation_pools")
        pools = ipam.check_pools(subnet["cidr"], gateway, subnet["allocation_pools"]
                                 if requested is None else requested)
        values["allocation_pools"] = ipam.pools_to_api(pools)
        fresh = ipam.SubnetAddresses(subnet["cidr"], pools)
        fresh.held = set(self.addresses[subnet["id"]].held)
        return fresh

    def delete_subnet(self, subnet_id: str) -> None:
        subnet = self.get("subnet", subnet_id)
        batch = _Batch()
        for port_id in self.ports_of.get(subnet["network_id"], ()):
            port = self.records["port"][port_id]
            if not any(ip["subnet_id"] == subnet_id for ip in port["fixed_ips"]):
                continue
            if port["device_owner"] not in SERVICE_OWNERS:
                raise Conflict(f"Unable to complete operation on subnet {subnet_id}: One or "
                               "more ports have an IP allocation from this subnet.",
                               "SubnetInUse")
        # the DHCP port (the one service port) loses its address there, or goes
        current = self.dhcp_port_of(subnet["network_id"])
        remaining = [other for other in self._subnets_of(subnet["network_id"])
                     if other["id"] != subnet_id]
        self._dhcp_port_follows(batch, subnet["network_id"], remaining, current,
                                current["fixed_ips"] if current else [])
        batch.delete("subnet", subnet_id)
        self._commit(batch)

    def _refuse_overlap(self, network_id: str, cidr: str) -> None:
        new = ipaddress.IPv4Network(cidr)
        for subnet_id in self.subnets_of.get(network_id, ()):
            existing = self.records["subnet"][subnet_id]
            if new.overlaps(ipaddress.IPv4Network(existing["cidr"])):
                raise BadRequest(f"Invalid input for operation: Requested subnet with cidr: "
                                 f"{cidr} for network: {network_id} overlaps with another "
                                 f"subnet ({existing['cidr']}).", "InvalidInput")

    # ------------------------------------------------------------------- ports

    def create_port(self, values: dict, project: str | None = None) -> dict:
        network = self.get("network", values["network_id"])
        self._refuse_router_owner(values["device_owner"])
        record = self._new_record(values, project)
        mac = values["mac_address"] or self._generate_mac(network["id"])
        self._refuse_taken_mac(network["id"], mac, record["id"])
        _refuse_too_many_ips(values["fixed_ips"], values["device_owner"])
        fixed_ips = self._assign_ips(network["id"], values["fixed_ips"], record["id"])
        security = values["port_security_enabled"]
        if security is None:
            security = network["port_security_enabled"]
        pairs = self._address_pairs(values["allowed_address_pairs"], mac, security)
        batch = _Batch()   # with the project's default security group, if it is new
        record.update({
            "mac_address": mac, "fixed_ips": fixed_ips, "port_security_enabled": security,
            "allowed_address_pairs": pairs, "status": "DOWN",
            "extra_dhcp_opts": _extra_dhcp_opts([], values["extra_dhcp_opts"]),
            "security_groups": self._port_groups_created(batch, values, record, security),
            **self._api_binding(values["binding:host_id"], network, values["binding:vnic_type"]),
            HOST_NAMED_BY_API: bool(values["binding:host_id"]),
        })
        batch.put("port", record)
        self._commit(batch)
        return self.render("port", record)

    def update_port(self, port_id: str, values: dict) -> dict:
        record = self.get("port", port_id)
        changed = {key for key in ("device_owner", "device_id") if key in values
                   and values[key] != record[key]}
        if "fixed_ips" in values and not _same_addresses(values["fixed_ips"],
                                                         record["fixed_ips"]):
            changed.add("fixed_ips")
        if record["device_owner"] in ROUTER_INTERFACE_OWNERS and changed:
            raise Conflict(f"Port {port_id} is an interface of router "
                           f"{record['device_id']}: use remove_router_interface.",
                           "L3PortInUse")
        if record["device_owner"] in L3_OWNERS and changed:
            raise Conflict(f"Port {port_id} has owner {record['device_owner']}: its router "
                           "or floating IP makes and changes it.", "L3PortInUse")
        if record["device_owner"] == DHCP_OWNER and changed:
            raise Conflict(f"Port {port_id} is the network's DHCP port, which the controller "
                           "keeps: its owner, device and addresses follow the subnets.",
                           "DhcpPortInUse")
        if values.get("device_owner", record["device_owner"]) != record["device_owner"]:
            self._refuse_router_owner(values["device_owner"])
        if "mac_address" in values and values["mac_address"] != record["mac_address"]:
            if record["binding:vif_type"] == "ovs":   # a VM's device holds the MAC
                raise Conflict(f"Port {port_id} is bound and active; its MAC address "
                               "cannot change.", "PortBound")
            self._refuse_taken_mac(record["network_id"], values["mac_address"], port_id)
        if "fixed_ips" in values or "device_owner" in changed:   # a network:* owner's
            _refuse_too_many_ips(values.get("fixed_ips", record["fixed_ips"]),  # given up
                                 values.get("device_owner", record["device_owner"]))
        if "fixed_ips" in values:
            values["fixed_ips"] = self._assign_ips(record["network_id"], values["fixed_ips"],
                                                   port_id)
            self.refuse_floating_address_change(port_id, values["fixed_ips"])
        if "extra_dhcp_opts" in values:
            values["extra_dhcp_opts"] = _extra_dhcp_opts(record["extra_dhcp_opts"],
                                                         values["extra_dhcp_opts"])
        security = values.get("port_security_enabled", record["port_security_enabled"])
        pairs = values.get("allowed_address_pairs", record["allowed_address_pairs"])
        mac = values.get("mac_address", record["mac_address"])
        values["allowed_address_pairs"] = self._address_pairs(pairs, mac, security)
        values["security_groups"] = self._port_groups_updated(record, values)
        host = values.get("binding:host_id")
        if "binding:host_id" in values and (host != record["binding:host_id"] or (
                host and record["binding:vif_type"] in ("binding_failed", "unbound"))):
            # Nova tries again (and a port stored unbound with its host, as before
            # bindings were made at once, binds now); no host again changes nothing
            values.update(self._api_binding(
                values["binding:host_id"], self.records["network"][record["network_id"]],
                values.get("binding:vnic_type", record["binding:vnic_type"])))
            values[HOST_NAMED_BY_API] = bool(values["binding:host_id"])
            values["status"] = "DOWN"
        if not values.get("admin_state_up", True) and not security_groups.is_trusted(record):
            values["status"] = "DOWN"   # a VM's, disabled: its device goes dead
        updated = self._updated(record, values)
        self._commit_one("port", updated)
        self.sync_fip_gateways()
        return self.render("port", updated)

    def delete_port(self, port_id: str) -> None:
        port = self.get("port", port_id)
        if port["device_owner"] in L3_OWNERS or (
                port["device_owner"] in ROUTER_INTERFACE_OWNERS
                and port["device_id"] in self.records["router"]):
            raise Conflict(f"Port {port_id} cannot be deleted directly via the port API: "
                           f"has device owner {port['device_owner']}.", "L3PortInUse")
        batch = _Batch()
        batch.delete("port", port_id)
        self._fips_lose_port(batch, port_id)
        if port["device_owner"] == DHCP_OWNER:
            # As Neutron's DHCP agent would, at once: the network keeps a DHCP server,
            # on the same addresses.
            self._dhcp_port_follows(batch, port["network_id"], self._subnets_of(
                port["network_id"]), None, port["fixed_ips"])
        self._commit(batch)
        self.sync_fip_gateways()

    @staticmethod
    def _refuse_router_owner(device_owner: str) -> None:
        """A router's interfaces are made by add_router_interface, which keeps one router
        per subnet, and the DHCP port by the subnets; a plain port write must not make
        one."""
        if device_owner in ROUTER_INTERFACE_OWNERS:
            raise BadRequest(f"device_owner {device_owner} is set by add_router_interface, "
                             "not by a port write.")
        if device_owner == DHCP_OWNER:
            raise BadRequest(f"device_owner {DHCP_OWNER} is the network's DHCP port, which "
                             "the controller keeps (one per network with DHCP enabled).")
        if device_owner in L3_OWNERS:
            raise BadRequest(f"device_owner {device_owner} is set by router gateways and "
                             "floating IPs, not by a port write.")

    # -------------------------------------------------------------------- DHCP

    def _subnets_of(self, network_id: str, changed: dict | None = None) -> list[dict]:
        """The network's subnets, with ``changed`` in place of its stored version (or
        last, if it is new)."""
        subnets = [self.records["subnet"][subnet_id]
                   for subnet_id in self.subnets_of.get(network_id, ())]
        if changed is None:
            return subnets
        replaced = [changed if subnet["id"] == changed["id"] else subnet for subnet in subnets]
        return replaced if changed in replaced else replaced + [changed]

    def _dhcp_port_follows(self, batch: _Batch, network_id: str, subnets: list[dict],
                           current: dict | None, kept_ips: list[dict],
                           fresh: dict[str, ipam.SubnetAddresses] | None = None) -> None:
        """The network's DHCP port as its subnets now want it: an address (kept, or
        allocated from the pool) in each DHCP-enabled subnet; made with the first such
        subnet, deleted with the last.  ``fresh``: allocators of subnets not stored yet."""
        kept = {ip["subnet_id"]: ip for ip in kept_ips}
        fixed_ips = []
        for subnet in (subnet for subnet in subnets if subnet["enable_dhcp"]):
            if subnet["id"] in kept:
                fixed_ips.append(kept[subnet["id"]])
                continue
            addresses = (fresh or {}).get(subnet["id"]) or self.addresses[subnet["id"]]
            address = addresses.allocate(set())
            if address is None:
                LOG.warning("subnet %s: no address left for its DHCP port; its VMs get no "
                            "DHCP answers", subnet["id"])
                continue
            fixed_ips.append({"subnet_id": subnet["id"],
                              "ip_address": str(ipaddress.IPv4Address(address))})
        if current is not None and not fixed_ips:
            batch.delete("port", current["id"])
        elif current is None and fixed_ips:
            network = self.records["network"][network_id]
            batch.put("port", self._service_port(
                network_id, network["project_id"], f"{self.dhcp_device_prefix}-{network_id}",
                DHCP_OWNER, fixed_ips))
        elif current is not None and fixed_ips != current["fixed_ips"]:
            batch.put("port", self._updated(current, {"fixed_ips": fixed_ips}))

    def _subnet_written(self, batch: _Batch, subnet: dict,
                        fresh: ipam.SubnetAddresses | None = None) -> None:
        """A subnet created or updated, and its network's DHCP port following it."""
        batch.put("subnet", subnet)
        current = self.dhcp_port_of(subnet["network_id"])
        self._dhcp_port_follows(batch, subnet["network_id"],
                                self._subnets_of(subnet["network_id"], subnet), current,
                                current["fixed_ips"] if current else [],
                                {subnet["id"]: fresh} if fresh else None)

    def sync_dhcp_ports(self) -> None:
        """Every network's DHCP port as its subnets want it (a database written before
        DHCP was served gets them at start-up)."""
        batch = _Batch()
        for network_id in self.records["network"]:
            current = self.dhcp_port_of(network_id)
            self._dhcp_port_follows(batch, network_id, self._subnets_of(network_id), current,
                                    current["fixed_ips"] if current else [])
        if batch.puts or batch.deletes:
            self._commit(batch)

    def sync_l3_port_projects(self) -> None:
        """Gateway, SNAT and floating IP ports of a database written when they still had
        their router's project: no project's now, as new ones are made."""
        batch = _Batch()
        for port in self.records["port"].values():
            if port["device_owner"] in L3_OWNERS and port["project_id"]:
                batch.put("port", {**port, "tenant_id": "", "project_id": ""})
        if batch.puts:
            self._commit(batch)

    def set_bindings(self, bound: dict[str, str] | None = None,
                     unbound: Iterable[str] = (), failed: dict[str, str] | None = None) -> None:
        """Ports whose devices appeared ({port: host}: ACTIVE there), ports whose devices
        left (DOWN, keeping their host) and ports a host refused to bind (DOWN, failed
        there), in one transaction; unknown ports are skipped.  A disabled port binds but
        stays DOWN, as Neutron's agent keeps its device in the dead VLAN."""
        batch = _Batch()
        for ports, status, outcome in ((bound, "ACTIVE", "ovs"),
                                       (failed, "DOWN", "binding_failed")):
            for port_id, host in (ports or {}).items():
                port = self.records["port"].get(port_id)
                if port is None:
                    continue
                up = status if port.get("admin_state_up", True) else "DOWN"
                network = self.records["network"][port["network_id"]]
                details = self.vif_details(host, network) if self.vif_details else None
                changes = {"status": up, **self._binding_fields(host, outcome, details),
                           HOST_NAMED_BY_API: host_named_by_api(port)
                           and port["binding:host_id"] == host}
                if any(port.get(k) != v for k, v in changes.items()):
                    batch.put("port", self._updated(port, changes))
        for port_id in unbound:
            port = self.records["port"].get(port_id)
            if port is not None and port["status"] != "DOWN":
                batch.put("port", self._updated(port, {"status": "DOWN"}))
        if batch.puts:
            self._commit(batch)
            self.sync_fip_gateways()

    def _api_binding(self, host: str, network: dict, vnic_type: str) -> dict:
        """The binding a host named by the API gives at once, as ML2 binds (what Nova
        reads before it plugs the VIF): ``ovs`` for a normal VIF on a known, enabled
        hypervisor that carries the network, else ``binding_failed`` (SR-IOV, bare metal
        and the rest no driver here binds); the port is ACTIVE once its device is there.
        No host, or no topology to ask: ``unbound``."""
        if not host or self.vif_details is None:
            return self._binding_fields(host, "unbound")
        details = (self.vif_details(host, network) if self.takes_new_bindings(host)
                   and vnic_type == BOUND_VNIC_TYPE else None)
        return self._binding_fields(host, "ovs" if details else "binding_failed", details)

    @staticmethod
    def _binding_fields(host: str, vif_type: str, details: dict | None = None) -> dict:
        """A binding's fields; ``vif_type`` is ``ovs`` (bound, with the hypervisor's
        ``details``, as ML2's OVS driver gives them: Nova reads the datapath type from
        them), ``unbound`` or ``binding_failed``, as Neutron names them."""
        return {
            "binding:vif_type": vif_type,
            "binding:vif_details": (details or {"port_filter": True, "ovs_hybrid_plug": False})
            if vif_type == "ovs" else {},
            "binding:host_id": host,
        }

    def _generate_mac(self, network_id: str) -> str:
        while True:
            mac = "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))
            if (network_id, mac) not in self.mac_holder:
                return mac

    def _refuse_taken_mac(self, network_id: str, mac: str, port_id: str) -> None:
        holder = self.mac_holder.get((network_id, mac))
        if holder is not None and holder != port_id:
            raise Conflict(f"Unable to complete operation for network {network_id}. The mac "
                           f"address {mac} is in use.", "MacAddressInUse")

    def _assign_ips(self, network_id: str, requested: list[dict] | None, port_id: str,
                    batch: _Batch | None = None) -> list[dict]:
        """Resolve requested fixed IPs (or allocate one) for a port of the network; with
        the ``batch`` of a write making several ports, none of the addresses they took."""
        if requested is None:
            return self._allocate_anywhere(network_id, batch)
        chosen: dict[int, int] = {}   # index in requested -> address
        taken: dict[str, set[int]] = {}
        subnets = [self._subnet_for(network_id, item) for item in requested]
        # the entries naming an address first, as Neutron takes them: a subnet-only entry
        # before them must not be given one of theirs
        order = sorted(range(len(requested)), key=lambda i: "ip_address" not in requested[i])
        for index in order:
            item, subnet = requested[index], subnets[index]
            addresses = self.addresses[subnet["id"]]
            in_request = taken.setdefault(
                subnet["id"], batch.addresses_in(subnet["id"]) if batch else set())
            if "ip_address" in item:
                address = _ip_int(item["ip_address"])
                if not addresses.contains(address):
                    raise BadRequest(f"IP address {item['ip_address']} is not a valid IP for "
                                     f"the specified subnet.", "InvalidIpForSubnet")
                holder = self.ip_holder.get((subnet["id"], address))
                if address in in_request or holder not in (None, port_id):
                    raise Conflict(f"IP address {item['ip_address']} already allocated in "
                                   f"subnet {subnet['id']}", "IpAddressAlreadyAllocated")
            else:
                address = self._kept_or_new(subnet["id"], port_id, requested, in_request)
            in_request.add(address)
            chosen[index] = address
        return [{"subnet_id": subnets[index]["id"],
                 "ip_address": str(ipaddress.IPv4Address(chosen[index]))}
                for index in range(len(requested))]

    def _allocate_anywhere(self, network_id: str, batch: _Batch | None) -> list[dict]:
        """One address for a port that names none: from the network's first subnet with
        one free, as Neutron's IPAM tries them in turn (adding a subnet is how a full
        network grows)."""
        subnet_ids = self.subnets_of.get(network_id, ())
        for subnet_id in subnet_ids:
            taken = batch.addresses_in(subnet_id) if batch else set()
            address = self.addresses[subnet_id].allocate(taken)
            if address is not None:
                return [{"subnet_id": subnet_id, "ip_address": str(ipaddress.IPv4Address(address))}]
        if subnet_ids:
            raise Conflict(f"No more IP addresses available on network {network_id}.",
                           "IpAddressGenerationFailure")
        return []

    def _kept_or_new(self, subnet_id: str, port_id: str, requested: list[dict],
                     in_request: set[int]) -> int:
        """For a fixed_ips entry naming only the subnet: the address the port already
        holds there (as Neutron keeps it on update), else a new one."""
        current = self.records["port"].get(port_id)
        named = {_ip_int(item["ip_address"]) for item in requested if "ip_address" in item}
        for ip in current["fixed_ips"] if current else ():
            address = _ip_int(ip["ip_address"])
            if ip["subnet_id"] == subnet_id and address not in in_request | named:
                return address
        return self._allocate(subnet_id, port_id, in_request)

    def _allocate(self, subnet_id: str, port_id: str, in_request: set[int]) -> int:
        address = self.addresses[subnet_id].allocate(in_request)
        if address is None:
            raise Conflict(f"No more IP addresses available on subnet {subnet_id}.",
                           "IpAddressGenerationFailure")
        return address

    def _subnet_for(self, network_id: str, item: dict) -> dict:
        if "subnet_id" in item:
            subnet = self.get("subnet", item["subnet_id"])
            if subnet["network_id"] != network_id:
                raise InvalidInput(f"Invalid input for operation: Failed to create port on "
                                   f"network {network_id}, because fixed_ips included "
                                   f"invalid subnet {subnet['id']}.")
            return subnet
        if "ip_address" not in item:
            raise InvalidInput("Invalid input for operation: a fixed_ips entry needs a "
                               "subnet_id or an ip_address.")
        address = _ip_int(item["ip_address"])
        for subnet_id in self.subnets_of.get(network_id, ()):
            if self.addresses[subnet_id].contains(address):
                return self.records["subnet"][subnet_id]
        raise BadRequest(f"IP address {item['ip_address']} is not a valid IP for any of the "
                         f"subnets on the specified network.", "InvalidIpForNetwork")

    @staticmethod
    def _address_pairs(pairs: list[dict], mac: str, security: bool) -> list[dict]:
        if pairs and not security:
            raise Conflict("Port Security must be enabled in order to have allowed address "
                           "pairs on a port.", "AddressPairAndPortSecurityRequired")
        return [{"ip_address": pair["ip_address"], "mac_address": pair.get("mac_address", mac)}
                for pair in pairs]

    # ----------------------------------------------------------------- routers

    def create_router(self, values: dict, project: str | None = None) -> dict:
        if values["distributed"] is False:   # nothing here would route it
            raise InvalidInput("Invalid input for operation: routers are distributed here "
                               "(DVR on every hypervisor); there are no centralized routers.")
        self.check_zone_hints(values["availability_zone_hints"])
        record = {
            **self._new_record(values, project),
            "distributed": True,
            "status": "ACTIVE",
        }
        batch = _Batch()
        record["external_gateway_info"] = self._gateway_written(
            batch, record, values["external_gateway_info"])
        batch.put("router", record)
        self._commit(batch)
        return self.render("router", record)

    def update_router(self, router_id: str, values: dict) -> dict:
        current = self.get("router", router_id)
        values = _as_they_are(current, values, ("distributed",),
                              "routers are distributed here (DVR on every hypervisor); "
                              "there are no centralized routers")
        record = self._updated(current, values)
        batch = _Batch()
        if "external_gateway_info" in values:
            record["external_gateway_info"] = self._gateway_written(
                batch, record, values["external_gateway_info"])
        batch.put("router", record)
        self._commit(batch)
        return self.render("router", record)

    def delete_router(self, router_id: str) -> None:
        router = self.get("router", router_id)
        if self.interfaces_of.get(router_id):
            raise Conflict(f"Router {router_id} still has ports", "RouterInUse")
        batch = _Batch()
        self._gateway_written(batch, router, None)   # the gateway goes with the router
        batch.delete("router", router_id)
        self._commit(batch)

    def add_router_interface(self, router_id: str, values: dict) -> dict:
        router = self.get("router", router_id)
        subnet_id, port_id = self._interface_target(values)
        batch = _Batch()
        if subnet_id is not None:
            subnet = self.get("subnet", subnet_id)
            if subnet["gateway_ip"] is None:
                raise BadRequest(f"Bad router request: Subnet {subnet_id} does not have a "
                                 "gateway IP.", "BadRequest")
            self._refuse_attached(router, [subnet], by_subnet=True)
            port = self._new_interface_port(router, subnet)
        else:
            port = self.get("port", port_id)
            if port["device_id"] or port["device_owner"]:
                raise Conflict(f"Unable to complete operation on port {port_id} for network "
                               f"{port['network_id']}. Port already has an attached device "
                               f"{port['device_id']}.", "PortInUse")
            if not port["fixed_ips"]:
                raise BadRequest(f"Bad router request: Router port {port_id} must have at "
                                 "least one fixed IP.", "BadRequest")
            if len(port["fixed_ips"]) > 1:
                raise BadRequest("Bad router request: Cannot have multiple IPv4 subnets on "
                                 "router port.", "BadRequest")
            subnets = [self.records["subnet"][ip["subnet_id"]] for ip in port["fixed_ips"]]
            self._refuse_attached(router, subnets)
            port = self._updated(port, {"device_id": router_id,
                                        "device_owner": self._interface_owner(router)})
        batch.put("port", port)
        self._interfaces_changed(batch, router, added=port)
        self._commit(batch)
        return self._interface_info(router, port)

    def remove_router_interface(self, router_id: str, values: dict) -> dict:
        router = self.get("router", router_id)
        subnet_id, port_id = self._interface_target(values, for_removal=True)
        interface = self._find_interface(router_id, subnet_id, port_id)
        self._refuse_interface_needed(router_id, interface)
        batch = _Batch()
        batch.delete("port", interface["id"])
        self._interfaces_changed(batch, router, removed=interface)
        self._commit(batch)
        return self._interface_info(router, interface)

    def _interfaces_changed(self, batch: _Batch, router: dict, added: dict | None = None,
                            removed: dict | None = None) -> None:
        """A router's interfaces changed: its sg- ports follow, if it has a gateway."""
        info = router["external_gateway_info"]
        if info is None:
            return
        changed = {port["id"] for port in (added, removed) if port is not None}
        interfaces = [self.records["port"][port_id]
                      for port_id in self.interfaces_of.get(router["id"], ())
                      if port_id not in changed]
        self._snat_ports_follow(batch, router, info["network_id"],
                                interfaces + ([added] if added else []))

    def _new_batch(self) -> _Batch:
        return _Batch()

    @staticmethod
    def _interface_info(router: dict, port: dict) -> dict:
        """Neutron's answer to add/remove_router_interface."""
        subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
        return {"id": router["id"], "tenant_id": router["tenant_id"],
                "project_id": router["project_id"], "port_id": port["id"],
                "network_id": port["network_id"], "subnet_id": subnet_ids[0],
                "subnet_ids": subnet_ids}

    @staticmethod
    def _interface_target(values: dict, for_removal: bool = False
                          ) -> tuple[str | None, str | None]:
        """The subnet and port an interface request names: one of them, or, to remove
        one, both (the port must then be on the subnet), as Neutron takes them."""
        subnet_id, port_id = values.get("subnet_id"), values.get("port_id")
        if subnet_id is None and port_id is None:
            raise BadRequest("Bad router request: Either subnet_id or port_id must be "
                             "specified.", "BadRequest")
        if subnet_id is not None and port_id is not None and not for_removal:
            raise BadRequest("Bad router request: Cannot specify both subnet-id and port-id.",
                             "BadRequest")
        return subnet_id, port_id

    def _interface_owner(self, router: dict) -> str:
        return ROUTER_INTERFACE_OWNERS[1] if router["distributed"] else ROUTER_INTERFACE_OWNERS[0]

    def _refuse_attached(self, router: dict, subnets: list[dict],
                         by_subnet: bool = False) -> None:
        gateway = self.gateway_port_of(router["id"])
        outside = {ip["subnet_id"] for ip in gateway["fixed_ips"]} if gateway else set()
        for subnet in subnets:
            owner = self.router_of_subnet.get(subnet["id"])
            # its gateway's subnet (the interface would take the upstream router's
            # address), or one of its interfaces' already
            if subnet["id"] in outside or owner == router["id"]:
                raise BadRequest(f"Bad router request: Router already has a port on subnet "
                                 f"{subnet['id']}.", "BadRequest")
            if owner is not None and by_subnet:   # its gateway address is the other's
                raise Conflict(f"IP address {subnet['gateway_ip']} already allocated in "
                               f"subnet {subnet['id']}.", "IpAddressAlreadyAllocated")
            if owner is not None:   # one router per subnet here, whatever the address
                raise Conflict(f"Subnet {subnet['id']} is already attached to router {owner}.",
                               "SubnetInUseByRouter")
            new = ipaddress.IPv4Network(subnet["cidr"])
            attached = [other_id for other_id, other_router in self.router_of_subnet.items()
                        if other_router == router["id"]] + sorted(outside)
            for other_id in attached:   # its interfaces' subnets and its gateway's
                other = self.records["subnet"][other_id]
                if new.overlaps(ipaddress.IPv4Network(other["cidr"])):
                    raise BadRequest(f"Bad router request: Cidr {subnet['cidr']} of subnet "
                                     f"{subnet['id']} overlaps with cidr {other['cidr']} of "
                                     f"subnet {other_id}.", "BadRequest")

    def _new_interface_port(self, router: dict, subnet: dict) -> dict:
        gateway = subnet["gateway_ip"]
        holder = self.ip_holder.get((subnet["id"], _ip_int(gateway)))
        if holder is not None:
            raise Conflict(f"IP address {gateway} already allocated in subnet {subnet['id']}",
                           "IpAddressAlreadyAllocated")
        return self._service_port(subnet["network_id"], router["project_id"], router["id"],
                                  self._interface_owner(router),
                                  [{"subnet_id": subnet["id"], "ip_address": gateway}])

    def _service_port(self, network_id: str, project: str, device_id: str, owner: str,
                      fixed_ips: list[dict]) -> dict:
        """A port the controller makes for a service (a router interface, DHCP): ACTIVE,
        trusted (no port security), bound to no host.  Gateway, SNAT and floating IP ports
        belong to no project, as Neutron makes them (tenant_id ''): no quota counts them."""
        values = {"name": "", "description": "", "network_id": network_id,
                  "tenant_id": project, "admin_state_up": True, "device_id": device_id,
                  "device_owner": owner, "security_groups": [],
                  "binding:vnic_type": BOUND_VNIC_TYPE, "binding:profile": {}}
        record = self._new_record(values, project)
        if owner in L3_OWNERS:   # _new_record takes "" for the default project
            record["tenant_id"] = record["project_id"] = ""
        return {**record,
                "mac_address": self._generate_mac(network_id), "fixed_ips": fixed_ips,
                "port_security_enabled": False, "allowed_address_pairs": [],
                "status": "ACTIVE", "extra_dhcp_opts": [], **self._binding_fields("", "unbound")}

    def _find_interface(self, router_id: str, subnet_id: str | None,
                        port_id: str | None) -> dict:
        for interface_id in self.interfaces_of.get(router_id, ()):
            port = self.records["port"][interface_id]
            on_subnet = any(ip["subnet_id"] == subnet_id for ip in port["fixed_ips"])
            if interface_id == port_id and subnet_id is not None and not on_subnet:
                raise BadRequest(f"Subnet on port {port_id} does not match the requested "
                                 f"subnet {subnet_id}.", "SubnetMismatchForPort")
            if interface_id == port_id or (port_id is None and on_subnet):
                return port
        if port_id is not None:
            raise NotFound(f"Router {router_id} does not have an interface with id {port_id}",
                           "RouterInterfaceNotFound")
        raise NotFound(f"Router {router_id} has no interface on subnet {subnet_id}",
                       "RouterInterfaceNotFoundForSubnet")

    # ------------------------------------------------------------- internals

    def _owner(self, values: dict, project: str | None) -> str:
        """The project a new record belongs to: the body's, else the caller's."""
        tenant, proj = values.get("tenant_id"), values.get("project_id")
        if tenant and proj and tenant != proj:
            raise BadRequest("tenant_id and project_id do not match.")
        return proj or tenant or project or self.default_project

    def _new_record(self, values: dict, project: str | None) -> dict:
        owner = self._owner(values, project)
        stamp = self.now()
        return {**values, "id": str(uuid.uuid4()), "tenant_id": owner, "project_id": owner,
                "tags": [], "created_at": stamp, "updated_at": stamp, "revision_number": 1}

    def _updated(self, record: dict, values: dict) -> dict:
        return {**record, **values, "updated_at": self.now(),
                "revision_number": record["revision_number"] + 1}

    def _commit_one(self, kind: str, record: dict) -> dict:
        batch = _Batch()
        batch.put(kind, record)
        self._commit(batch)
        return self.render(kind, record)

    def _delete_one(self, kind: str, resource_id: str) -> None:
        batch = _Batch()
        batch.delete(kind, resource_id)
        self._commit(batch)

    def _commit(self, batch: _Batch) -> None:
        puts = [(kind, record) for kind, record in batch.puts
                if (kind, record["id"]) in batch.revised or not self._restated(kind, record)]
        if not puts and not batch.deletes:
            return
        self.store.commit(puts=[(kind, record["id"], record) for kind, record in puts],
                          deletes=batch.deletes)
        changes = []
        for kind, resource_id in batch.deletes:
            old = self.records[kind].pop(resource_id)
            self._unindex(kind, old)
            changes.append((kind, old, None))
        for kind, record in puts:
            old = self.records[kind].get(record["id"])
            if old is not None:
                self._unindex(kind, old, replaced=True)
            self._index(kind, record)
            self.records[kind][record["id"]] = record
            changes.append((kind, old, record))
        self.journal += changes

    def _restated(self, kind: str, record: dict) -> bool:
        """Whether a put only restates the stored record (a PUT of what is there): it is
        then not written, and the record takes the stored revision and time back, as
        Neutron bumps only what a write modified."""
        old = self.records[kind].get(record["id"])
        if old is None or old.keys() != record.keys() or any(
                old[key] != value for key, value in record.items() if key not in BOOKKEEPING):
            return False
        record.update({key: old[key] for key in BOOKKEEPING if key in old})
        return True

    def take_changes(self) -> list[Change]:
        """What was written since the last call, in order: (kind, old, new)."""
        changes, self.journal = self.journal, []
        return changes

    def _index(self, kind: str, record: dict) -> None:
        if kind == "network":
            self.segments.take(self._segment(record))
        elif kind == "subnet":
            self.subnets_of.setdefault(record["network_id"], {})[record["id"]] = None
            if record.get("subnetpool_id"):
                self.subnets_in_pool.setdefault(record["subnetpool_id"], {})[record["id"]] = None
            pools = ipam.pools_from_api(record["allocation_pools"])
            if record["id"] in self.addresses:
                self.addresses[record["id"]].repool(pools)
            else:
                self.addresses[record["id"]] = ipam.SubnetAddresses(record["cidr"], pools)
        elif kind == "port":
            self._index_port(record)
        elif kind == "floatingip":
            self._index_floatingip(record)
        elif kind in security_groups.KINDS:
            self._index_security_group(kind, record)

    def _unindex(self, kind: str, record: dict, replaced: bool = False) -> None:
        """Forget what the record holds; a ``replaced`` record keeps its place in its
        network's ordered subnets and ports (a new version is indexed next)."""
        if kind == "network":
            self.segments.release(self._segment(record))
        elif kind == "subnet":
            if not replaced:
                self.subnets_of[record["network_id"]].pop(record["id"], None)
            self.subnets_in_pool.get(record.get("subnetpool_id"), {}).pop(record["id"], None)
            if record["id"] not in self.records["subnet"]:
                self.addresses.pop(record["id"], None)
        elif kind == "port":
            self._unindex_port(record, replaced)
        elif kind == "floatingip":
            self._unindex_floatingip(record)
        elif kind in security_groups.KINDS:
            self._unindex_security_group(kind, record, replaced)

    def _index_port(self, port: dict) -> None:
        port_id = port["id"]
        self.ports_of.setdefault(port["network_id"], {})[port_id] = None
        self.mac_holder[(port["network_id"], port["mac_address"])] = port_id
        for mac in pair_macs(port):
            self.pair_mac_ports.setdefault((port["network_id"], mac), {})[port_id] = None
        self.port_by_prefix[port_id[:PORT_ID_PREFIX_LEN]] = port_id
        if is_bound_vm_port(port):
            self.bound_on.setdefault(port["network_id"], {}).setdefault(
                port["binding:host_id"], {})[port_id] = None
        for ip in port["fixed_ips"]:
            address = _ip_int(ip["ip_address"])
            self.ip_holder[(ip["subnet_id"], address)] = port_id
            self.addresses[ip["subnet_id"]].held.add(address)
        if port["device_owner"] == DHCP_OWNER:
            self.dhcp_port_on[port["network_id"]] = port_id
        self._index_l3_port(port)
        self._index_port_groups(port)
        if port["device_owner"] in ROUTER_INTERFACE_OWNERS:
            self.interfaces_of.setdefault(port["device_id"], {})[port_id] = None
            self.interfaces_on.setdefault(port["network_id"], {})[port_id] = None
            for ip in port["fixed_ips"]:
                self.router_of_subnet[ip["subnet_id"]] = port["device_id"]

    def _unindex_port(self, port: dict, replaced: bool = False) -> None:
        port_id = port["id"]
        if not replaced:
            self.ports_of[port["network_id"]].pop(port_id, None)
        self.mac_holder.pop((port["network_id"], port["mac_address"]), None)
        for mac in pair_macs(port):
            named_by = self.pair_mac_ports[(port["network_id"], mac)]
            named_by.pop(port_id, None)
            if not named_by:
                del self.pair_mac_ports[(port["network_id"], mac)]
        self.port_by_prefix.pop(port_id[:PORT_ID_PREFIX_LEN], None)
        if is_bound_vm_port(port):
            hosts = self.bound_on[port["network_id"]]
            hosts[port["binding:host_id"]].pop(port_id, None)
            if not hosts[port["binding:host_id"]]:
                del hosts[port["binding:host_id"]]
        for ip in port["fixed_ips"]:
            address = _ip_int(ip["ip_address"])
            self.ip_holder.pop((ip["subnet_id"], address), None)
            if ip["subnet_id"] in self.addresses:
                self.addresses[ip["subnet_id"]].held.discard(address)
        if port["device_owner"] == DHCP_OWNER and self.dhcp_port_on.get(
                port["network_id"]) == port_id:
            del self.dhcp_port_on[port["network_id"]]
        self._unindex_l3_port(port)
        self._unindex_port_groups(port)
        if port["device_owner"] in ROUTER_INTERFACE_OWNERS:
            self.interfaces_of.get(port["device_id"], {}).pop(port_id, None)
            self.interfaces_on.get(port["network_id"], {}).pop(port_id, None)
            for ip in port["fixed_ips"]:
                self.router_of_subnet.pop(ip["subnet_id"], None)

    @staticmethod
    def _segment(network: dict) -> tuple[str, str | None, int | None]:
        return (network["provider:network_type"], network["provider:physical_network"],
                network["provider:segmentation_id"])
