"""IPv4 address management for subnets: default pools, pool checks, next-fit allocation."""
from __future__ import annotations

import ipaddress

from ryu_app.model.errors import BadRequest, Conflict, InvalidInput

Pool = tuple[int, int]  # first and last address, as integers, inclusive


def host_bounds(cidr: str) -> Pool:
    """The first and last usable host of a subnet (no network or broadcast address)."""
    network = ipaddress.IPv4Network(cidr)
    return int(network.network_address) + 1, int(network.broadcast_address) - 1


def default_gateway(cidr: str) -> str:
    return str(ipaddress.IPv4Address(host_bounds(cidr)[0]))


def check_gateway(cidr: str, gateway: str) -> None:
    first, last = host_bounds(cidr)
    if not first <= int(ipaddress.IPv4Address(gateway)) <= last:
        raise InvalidInput(f"Invalid input for operation: Gateway IP {gateway} is not a "
                           f"usable host address of subnet {cidr}.")


def default_pools(cidr: str, gateway: str | None) -> list[Pool]:
    """All hosts of the subnet except the gateway, as one or two ranges."""
    first, last = host_bounds(cidr)
    if gateway is None:
        return [(first, last)]
    gw = int(ipaddress.IPv4Address(gateway))
    return [(a, b) for a, b in ((first, gw - 1), (gw + 1, last)) if a <= b]


def check_pools(cidr: str, gateway: str | None, pools: list[dict]) -> list[Pool]:
    """Validate requested allocation pools and return them as integer ranges."""
    first, last = host_bounds(cidr)
    ranges = []
    for pool in pools:
        start = int(ipaddress.IPv4Address(pool["start"]))
        end = int(ipaddress.IPv4Address(pool["end"]))
        if start > end:
            raise BadRequest(f"The allocation pool {pool['start']}-{pool['end']} is not "
                             f"valid.", "InvalidAllocationPool")
        if start < first or end > last:
            raise BadRequest(f"The allocation pool {pool['start']}-{pool['end']} spans "
                             f"beyond the subnet cidr {cidr}.", "OutOfBoundsAllocationPool")
        ranges.append((start, end))
    ranges.sort()
    for (_, previous_end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start <= previous_end:   # a Conflict in neutron-lib
            raise Conflict(f"Found overlapping allocation pools for subnet {cidr}.",
                           "OverlappingAllocationPools")
    if gateway is not None:
        gw = int(ipaddress.IPv4Address(gateway))
        if any(start <= gw <= end for start, end in ranges):
            raise Conflict(f"Gateway ip {gateway} conflicts with allocation pool.",
                           "GatewayConflictWithAllocationPools")
    return ranges


def pools_to_api(ranges: list[Pool]) -> list[dict]:
    return [{"start": str(ipaddress.IPv4Address(a)), "end": str(ipaddress.IPv4Address(b))}
            for a, b in ranges]


def pools_from_api(pools: list[dict]) -> list[Pool]:
    return [(int(ipaddress.IPv4Address(p["start"])), int(ipaddress.IPv4Address(p["end"])))
            for p in pools]


class SubnetAddresses:
    """The addresses of one subnet that ports hold, and a next-fit allocator over its pools.

    Next-fit (resume after the last address handed out) keeps creating N ports
    O(N) overall instead of rescanning the pool from the start each time.
    """

    def __init__(self, cidr: str, pools: list[Pool]):
        self.first, self.last = host_bounds(cidr)
        self.pools = pools
        self.held: set[int] = set()
        self._pool_index = 0
        self._next = pools[0][0] if pools else 0

    def repool(self, pools: list[Pool]) -> None:
        """New pools (a subnet update); the addresses held stay held, wherever they are."""
        if pools != self.pools:
            self.pools, self._pool_index = pools, 0
            self._next = pools[0][0] if pools else 0

    def contains(self, address: int) -> bool:
        """True if the address is a usable host of the subnet (in a pool or not)."""
        return self.first <= address <= self.last

    def allocate(self, also_taken: set[int]) -> int | None:
        """A free pool address not in ``also_taken``; None when the pools are full."""
        remaining = sum(b - a + 1 for a, b in self.pools)
        while remaining > 0:
            start, end = self.pools[self._pool_index]
            if not start <= self._next <= end:
                self._next = start
            candidate = self._next
            if candidate < end:
                self._next = candidate + 1
            else:
                self._pool_index = (self._pool_index + 1) % len(self.pools)
                self._next = self.pools[self._pool_index][0]
            if candidate not in self.held and candidate not in also_taken:
                return candidate
            remaining -= 1
        return None
