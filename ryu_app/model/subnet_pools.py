"""Neutron's subnet pools and address scopes (``subnet_allocation``, ``address-scope``,
``default-subnetpools``): tenants get subnets that never overlap without choosing CIDRs.

A pool holds IPv4 prefixes and the prefix lengths its subnets may have; ``POST
/subnets`` with ``subnetpool_id`` (or ``use_default_subnetpool``) and ``prefixlen``
takes the first free block of that size, where "first" is Neutron's: the smallest free
block that fits, at its lowest address (neutron/ipam/subnet_alloc.py).  What is free is
computed from the subnets themselves (the pool's prefixes less its subnets' CIDRs), so
a deleted subnet's block is free again and nothing can drift.  An address scope groups
pools whose prefixes must be unique among them; a network is in the scope of its
subnets' pool (``ipv4_address_scope``).  As in Neutron, a router joins subnets of any
scopes, and its routing keeps the scopes apart: DVR routes only between networks of one
scope (``pipeline/planner.py``), unscoped networks being one scope of their own.

Messages and error types follow neutron/db/db_base_plugin_v2.py, ipam/subnet_alloc.py
and address_scope_db.py, and a pool shows its prefix lengths as strings, as Neutron's
does.  One departure: a full pool or a taken CIDR is a 409, not Neutron's 500 (neither
is a server fault).  Pools are IPv4 only, as subnets are here.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

from ryu_app.model.errors import (AddressScopeInUse, AddressScopePrefixConflict,
                                  AddressScopeUpdateError, BadRequest,
                                  EmptySubnetPoolPrefixList,
                                  IllegalSubnetPoolAssociationToAddressScope,
                                  IllegalSubnetPoolPrefixBounds, IllegalSubnetPoolPrefixUpdate,
                                  InvalidInput, MaxPrefixSubnetAllocationError,
                                  MinPrefixSubnetAllocationError,
                                  NetworkAddressScopeAffinityError,
                                  NetworkSubnetPoolAffinityError, SubnetAllocationError,
                                  SubnetPoolDeleteError, SubnetPoolQuotaExceeded)

POOL, SCOPE = "subnetpool", "address_scope"
# Neutron's IPv4 bounds of a pool (a subnet of /31 or /32 is still refused at create)
MIN_PREFIXLEN, MAX_PREFIXLEN = 8, 32
Networks = list[ipaddress.IPv4Network]


def _networks(cidrs: Iterable[str]) -> Networks:
    return [ipaddress.IPv4Network(cidr) for cidr in cidrs]


def _merged(prefixes: Iterable[str]) -> list[str]:
    """A pool's prefixes as Neutron keeps them: overlaps and neighbours merged."""
    return [str(net) for net in ipaddress.collapse_addresses(_networks(prefixes))]


def _free_blocks(prefixes: Iterable[str], taken: Iterable[str]) -> Networks:
    """The pool's prefixes less what its subnets take, as the fewest CIDR blocks."""
    free = _networks(prefixes)
    for used in _networks(taken):
        free = [part for block in free for part in (
            block.address_exclude(used) if used.subnet_of(block) else
            () if block.subnet_of(used) else (block,))]
    return list(ipaddress.collapse_addresses(free))


def allocate_cidr(prefixes: Iterable[str], taken: Iterable[str], prefixlen: int) -> str:
    """Neutron's choice: the smallest free block that fits, its lowest block of the size."""
    blocks = sorted(_free_blocks(prefixes, taken), key=lambda net: (-net.prefixlen,
                                                                     int(net.network_address)))
    for block in blocks:
        if block.prefixlen <= prefixlen:
            return str(next(block.subnets(new_prefix=prefixlen)))
    raise SubnetAllocationError(
        reason=f"Insufficient prefix space to allocate subnet size /{prefixlen}")


def check_requested_cidr(prefixes: Iterable[str], taken: Iterable[str], cidr: str) -> str:
    """A CIDR asked of the pool by name: it must lie in one free block."""
    wanted = ipaddress.IPv4Network(cidr)
    if not any(wanted.subnet_of(block) for block in _free_blocks(prefixes, taken)):
        raise SubnetAllocationError(
            reason="Cannot allocate requested subnet from the available set of prefixes")
    return cidr


def _bounds(pool: dict) -> dict[str, int]:
    """A pool's prefix lengths, checked against each other as Neutron checks them."""
    low = pool["min_prefixlen"]
    high = pool["max_prefixlen"]
    default = pool["default_prefixlen"]
    for kind, value, base_kind, base in (
            ("max_prefixlen", high, "ip_version_max", MAX_PREFIXLEN),
            ("min_prefixlen", low, "max_prefixlen", high)):
        if value > base:
            raise IllegalSubnetPoolPrefixBounds(prefix_type=kind, prefixlen=value,
                                                base_prefix_type=base_kind,
                                                base_prefixlen=base)
    if default < low:
        raise IllegalSubnetPoolPrefixBounds(prefix_type="default_prefixlen", prefixlen=default,
                                            base_prefix_type="min_prefixlen",
                                            base_prefixlen=low)
    if default > high:
        raise IllegalSubnetPoolPrefixBounds(prefix_type="default_prefixlen", prefixlen=default,
                                            base_prefix_type="max_prefixlen",
                                            base_prefixlen=high)
    return {"min_prefixlen": low, "default_prefixlen": default, "max_prefixlen": high}


class SubnetPools:
    """The pool and scope operations of NetworkModel; ``records``, ``subnets_of``,
    ``subnets_in_pool``, ``_new_record``, ``_updated``, ``_commit_one`` and ``_owner``
    are the model's own."""

    # ------------------------------------------------------------ address scopes

    def create_address_scope(self, values: dict, project: str | None = None) -> dict:
        """A scope has no standard attributes in Neutron: no tags, times or revisions."""
        owner = self._owner(values, project)
        record = {"id": self._new_record(values, project)["id"], "name": values["name"],
                  "shared": values["shared"], "ip_version": values["ip_version"],
                  "tenant_id": owner, "project_id": owner}
        return self._commit_one(SCOPE, record)

    def update_address_scope(self, scope_id: str, values: dict) -> dict:
        record = self.get(SCOPE, scope_id)
        if record["shared"] and values.get("shared") is False:
            raise AddressScopeUpdateError(address_scope_id=scope_id,
                                          reason="Shared address scope can't be unshared")
        return self._commit_one(SCOPE, {**record, **values})

    def delete_address_scope(self, scope_id: str) -> None:
        self.get(SCOPE, scope_id)
        if any(pool["address_scope_id"] == scope_id for pool in self.records[POOL].values()):
            raise AddressScopeInUse(address_scope_id=scope_id)
        self._delete_one(SCOPE, scope_id)

    # ------------------------------------------------------------- subnet pools

    def create_subnetpool(self, values: dict, project: str | None = None) -> dict:
        if not values["prefixes"]:
            raise EmptySubnetPoolPrefixList()
        low = MIN_PREFIXLEN if values["min_prefixlen"] is None else values["min_prefixlen"]
        record = {**self._new_record(values, project), "ip_version": 4,
                  "prefixes": _merged(values["prefixes"]),
                  **_bounds({"min_prefixlen": low,
                             "max_prefixlen": MAX_PREFIXLEN if values["max_prefixlen"] is None
                             else values["max_prefixlen"],
                             "default_prefixlen": low if values["default_prefixlen"] is None
                             else values["default_prefixlen"]})}
        self._check_pool(record, None)
        return self._commit_one(POOL, record)

    def update_subnetpool(self, pool_id: str, values: dict) -> dict:
        current = self.get(POOL, pool_id)
        record = self._updated(current, values)
        if "prefixes" in values:
            record["prefixes"] = _merged(values["prefixes"])
            old, new = _networks(current["prefixes"]), _networks(record["prefixes"])
            if not all(any(net.subnet_of(block) for block in new) for net in old):
                raise IllegalSubnetPoolPrefixUpdate(
                    msg="Existing prefixes must be a subset of the new prefixes")
        record.update(_bounds(record))
        self._check_pool(record, current)
        return self._commit_one(POOL, record)

    def delete_subnetpool(self, pool_id: str) -> None:
        self.get(POOL, pool_id)
        if self.pool_subnets(pool_id):
            raise SubnetPoolDeleteError(reason="Subnet pool has existing allocations")
        self._delete_one(POOL, pool_id)

    def _check_pool(self, pool: dict, current: dict | None) -> None:
        if pool["is_default"] and not (current and current["is_default"]) and any(
                other["is_default"] and other["id"] != pool["id"]
                for other in self.records[POOL].values()):
            raise InvalidInput("Invalid input for operation: A default subnetpool for this "
                               "IP family has already been set. Only one default may exist "
                               "per IP family.")
        scope_id = pool["address_scope_id"]
        if current is not None and current["address_scope_id"] != scope_id:
            self._refuse_split_networks(pool["id"], scope_id)
        if scope_id is None:
            return
        scope = self.get(SCOPE, scope_id)
        if not scope["shared"] and scope["project_id"] != pool["project_id"]:
            raise IllegalSubnetPoolAssociationToAddressScope(subnetpool_id=pool["id"],
                                                             address_scope_id=scope_id)
        mine = _networks(pool["prefixes"])
        for other in self.records[POOL].values():
            if other["id"] != pool["id"] and other["address_scope_id"] == scope_id and any(
                    a.overlaps(b) for a in mine for b in _networks(other["prefixes"])):
                raise AddressScopePrefixConflict()

    def _refuse_split_networks(self, pool_id: str, scope_id: str | None) -> None:
        """Re-scoping a pool may not leave a network with subnets in two scopes."""
        for network_id in {subnet["network_id"] for subnet in self.pool_subnets(pool_id)}:
            for subnet_id in self.subnets_of.get(network_id, ()):
                other = self.records["subnet"][subnet_id]["subnetpool_id"]
                if other != pool_id and self._scope_of_pool(other) != scope_id:
                    raise NetworkAddressScopeAffinityError()

    # ---------------------------------------------------------------- subnets

    def pool_cidr(self, values: dict) -> tuple[str, str | None]:
        """The CIDR of a subnet being created, and its pool: the one asked for, the
        default one (``use_default_subnetpool``) or none; a pool allocates the CIDR
        unless the request names one, which it must then have free."""
        cidr, prefixlen = values["cidr"], values["prefixlen"]
        pool_id = values["subnetpool_id"]
        if cidr is not None and prefixlen is not None:
            raise BadRequest("Bad subnets request: cidr and prefixlen must not be supplied "
                             "together.", "BadRequest")
        if pool_id is not None and values["use_default_subnetpool"]:
            raise BadRequest("Bad subnets request: subnetpool_id and use_default_subnetpool "
                             "cannot both be specified.", "BadRequest")
        if values["use_default_subnetpool"]:
            pool_id = next((pool["id"] for pool in self.records[POOL].values()
                            if pool["is_default"]), None)
            if pool_id is None:
                raise BadRequest("Bad subnets request: No default subnetpool found for IPv4.",
                                 "BadRequest")
        if pool_id is None:
            if cidr is None:
                raise BadRequest("Bad subnets request: a subnetpool must be specified in the "
                                 "absence of a cidr.", "BadRequest")
            return cidr, None
        pool = self.get(POOL, pool_id)
        taken = [subnet["cidr"] for subnet in self.pool_subnets(pool_id)]
        if cidr is not None:
            size = ipaddress.IPv4Network(cidr).prefixlen
        else:
            size = pool["default_prefixlen"] if prefixlen is None else prefixlen
        if size > pool["max_prefixlen"]:
            raise MaxPrefixSubnetAllocationError(prefixlen=size,
                                                 max_prefixlen=pool["max_prefixlen"])
        if size < pool["min_prefixlen"]:
            raise MinPrefixSubnetAllocationError(prefixlen=size,
                                                 min_prefixlen=pool["min_prefixlen"])
        if cidr is not None:
            return check_requested_cidr(pool["prefixes"], taken, cidr), pool_id
        return allocate_cidr(pool["prefixes"], taken, size), pool_id

    def check_pool_quota(self, pool_id: str | None, cidr: str, project: str) -> None:
        """A pool's ``default_quota``: addresses per project, counted in /32s."""
        quota = self.records[POOL][pool_id]["default_quota"] if pool_id else None
        if quota is None:
            return
        used = sum(ipaddress.IPv4Network(subnet["cidr"]).num_addresses
                   for subnet in self.pool_subnets(pool_id) if subnet["project_id"] == project)
        if used + ipaddress.IPv4Network(cidr).num_addresses > quota:
            raise SubnetPoolQuotaExceeded()

    def check_network_pool(self, network_id: str, pool_id: str | None) -> None:
        """A network's IPv4 subnets come from one pool, or from pools of its scope."""
        network_scope = self.network_address_scope(network_id)
        for subnet_id in self.subnets_of.get(network_id, ()):
            if self.records["subnet"][subnet_id]["subnetpool_id"] == pool_id:
                continue
            if network_scope is None or pool_id is None:
                raise NetworkSubnetPoolAffinityError()
            if self._scope_of_pool(pool_id) != network_scope:
                raise NetworkAddressScopeAffinityError()

    def network_address_scope(self, network_id: str) -> str | None:
        """The scope of the network's IPv4 subnets' pool (Neutron's ipv4_address_scope)."""
        for subnet_id in self.subnets_of.get(network_id, ()):
            scope = self._scope_of_pool(self.records["subnet"][subnet_id]["subnetpool_id"])
            if scope is not None:
                return scope
        return None

    def _scope_of_pool(self, pool_id: str | None) -> str | None:
        pool = self.records[POOL].get(pool_id) if pool_id else None
        return pool["address_scope_id"] if pool else None

    def pool_subnets(self, pool_id: str) -> list[dict]:
        return [self.records["subnet"][subnet_id]
                for subnet_id in self.subnets_in_pool.get(pool_id, ())]
