"""Segmentation ids: tenant pools from the configured ranges, provider values checked.

Defaults follow the seeds: VXLAN VNI 1001-2000, GRE 1-1000, VLAN physnet1:3001:4000.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ryu_app.model.errors import Conflict, InvalidInput, ServiceUnavailable
from topology.naming import TUNNEL_TYPES

# Largest id each segment type can carry on the wire.
MAX_SEGMENT_ID = {"vlan": 4094, "vxlan": 2 ** 24 - 1, "gre": 2 ** 32 - 1}
# The types on a physical network (a bridge mapping), which external networks need
PROVIDER_TYPES = ("vlan", "flat")
# Every network type the controller builds, in the order Neutron's messages list them
NETWORK_TYPES = ("local", "flat", "vlan", *TUNNEL_TYPES)


def parse_range(text: str) -> tuple[int, int]:
    """'1001:2000' -> (1001, 2000)."""
    low, _, high = text.partition(":")
    first, last = int(low), int(high)
    if first > last:
        raise ValueError(f"range {text} is empty")
    return first, last


def parse_tunnel_ranges(kind: str, entries: list[str]) -> tuple[tuple[int, int], ...]:
    """['1001:2000'] -> ((1001, 2000),), each inside what a ``kind`` header carries."""
    ranges = tuple(map(parse_range, entries))
    for first, last in ranges:
        if not 1 <= first <= last <= MAX_SEGMENT_ID[kind]:
            raise ValueError(f"{kind} range {first}:{last} is outside "
                             f"1-{MAX_SEGMENT_ID[kind]}")
    return ranges


def parse_vlan_ranges(entries: list[str]) -> dict[str, list[tuple[int, int]]]:
    """['physnet1:3001:4000', 'physnet2'] -> {'physnet1': [(3001, 4000)], 'physnet2': []}."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for entry in entries:
        physnet, _, span = entry.strip().partition(":")
        ranges.setdefault(physnet, [])
        if span:
            first, last = parse_range(span)
            if not 1 <= first <= last <= MAX_SEGMENT_ID["vlan"]:
                raise ValueError(f"VLAN range {entry} is outside 1-4094")
            ranges[physnet].append((first, last))
    return ranges


@dataclass
class SegmentPools:
    """Which segments exist for tenants, and which are taken (by any network)."""

    tunnel_ranges: dict[str, list[tuple[int, int]]]       # 'vxlan' -> [(1001, 2000)]
    vlan_ranges: dict[str, list[tuple[int, int]]]         # physnet -> [(3001, 4000)]
    flat_networks: tuple[str, ...] = ("*",)
    used: set[tuple[str, str | None, int | None]] = field(default_factory=set)

    def known_physnet(self, physnet: str) -> bool:
        return physnet in self.vlan_ranges

    def take(self, segment: tuple[str, str | None, int | None]) -> None:
        self.used.add(segment)

    def release(self, segment: tuple[str, str | None, int | None]) -> None:
        self.used.discard(segment)

    def choose(self, network_type: str, physnet: str | None,
               segmentation_id: int | None) -> tuple[str | None, int | None]:
        """Validate a requested segment, or allocate a tenant one; return (physnet, id).
        An empty physical network is none, as Neutron's type drivers read it."""
        physnet = physnet or None
        if network_type == "local":
            self._refuse_fields(network_type, physnet, segmentation_id)
            return None, None
        if network_type == "flat":
            return self._choose_flat(physnet, segmentation_id), None
        if network_type == "vlan":
            return self._choose_vlan(physnet, segmentation_id)
        return None, self._choose_tunnel(network_type, physnet, segmentation_id)

    @staticmethod
    def _refuse_fields(network_type: str, physnet: str | None, seg: int | None) -> None:
        if physnet is not None or seg is not None:
            raise InvalidInput(f"Invalid input for operation: {network_type} networks take "
                               "no physical_network or segmentation_id.")

    def _choose_flat(self, physnet: str | None, seg: int | None) -> str:
        if physnet is None or seg is not None:
            raise InvalidInput("Invalid input for operation: flat networks need "
                               "provider:physical_network and take no segmentation_id.")
        # As Neutron's flat type driver: flat_networks alone says which physnets may
        # carry one ('*': any), whether or not network_vlan_ranges names them.
        if "*" not in self.flat_networks and physnet not in self.flat_networks:
            raise InvalidInput(f"Invalid input for operation: physical network {physnet} "
                               "is not configured for flat networks.")
        if ("flat", physnet, None) in self.used:
            raise Conflict(f"Unable to create the flat network. Physical network {physnet} "
                           "is in use.", "FlatNetworkInUse")
        return physnet

    def _choose_vlan(self, physnet: str | None, seg: int | None) -> tuple[str, int]:
        if physnet is None:
            if seg is not None:
                raise InvalidInput("Invalid input for operation: provider:physical_network "
                                   "is required for a VLAN with a segmentation_id.")
            for candidate in self.vlan_ranges:
                found = self._first_free("vlan", candidate, self.vlan_ranges[candidate])
                if found is not None:
                    return candidate, found
            raise ServiceUnavailable("Unable to create the network. No tenant network is "
                                     "available for allocation.", "NoNetworkAvailable")
        self._require_physnet(physnet)
        if seg is None:
            found = self._first_free("vlan", physnet, self.vlan_ranges[physnet])
            if found is None:
                raise ServiceUnavailable(f"Unable to create the network. No VLAN is free on "
                                         f"physical network {physnet}.", "NoNetworkAvailable")
            return physnet, found
        self._check_bounds("vlan", seg)
        if ("vlan", physnet, seg) in self.used:
            raise Conflict(f"Unable to create the network. The VLAN {seg} on physical "
                           f"network {physnet} is in use.", "VlanIdInUse")
        return physnet, seg

    def _choose_tunnel(self, network_type: str, physnet: str | None, seg: int | None) -> int:
        if physnet is not None:
            raise InvalidInput(f"Invalid input for operation: provider:physical_network "
                               f"specified for {network_type} network.")
        if seg is None:
            found = self._first_free(network_type, None, self.tunnel_ranges.get(network_type, []))
            if found is None:
                raise ServiceUnavailable("Unable to create the network. No tenant network "
                                         "is available for allocation.", "NoNetworkAvailable")
            return found
        self._check_bounds(network_type, seg)
        if (network_type, None, seg) in self.used:
            raise Conflict(f"Unable to create the network. The tunnel ID {seg} is in use.",
                           "TunnelIdInUse")
        return seg

    def _require_physnet(self, physnet: str) -> None:
        if not self.known_physnet(physnet):
            raise InvalidInput(f"Invalid input for operation: physical_network '{physnet}' "
                               "unknown for this provider network.")

    @staticmethod
    def _check_bounds(network_type: str, seg: int) -> None:
        if not 1 <= seg <= MAX_SEGMENT_ID[network_type]:
            raise InvalidInput(f"Invalid input for operation: segmentation_id {seg} out of "
                               f"range (1 through {MAX_SEGMENT_ID[network_type]}).")

    def _first_free(self, network_type: str, physnet: str | None,
                    ranges: list[tuple[int, int]]) -> int | None:
        for first, last in ranges:
            for seg in range(first, last + 1):
                if (network_type, physnet, seg) not in self.used:
                    return seg
        return None
