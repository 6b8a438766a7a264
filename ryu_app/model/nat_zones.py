"""Conntrack zones for NAT: one per router (its SNAT) and one per floating IP, kept
across restarts so that a controller restart leaves every connection in its zone.

A zone per router keeps two tenants' overlapping CIDRs apart on the hypervisor doing
their SNAT; a zone per floating IP lets its connections be flushed alone when it is
disassociated (OpenFlow's NXT_CT_FLUSH_ZONE).  Zones 1-4094 are left to security groups
(Neutron's firewall uses the local VLAN as zone), so NAT zones start at 4096.
"""
from __future__ import annotations

from typing import Iterable

from ryu_app.model.store import Store

KIND = "nat_zone"
ZONES = range(4096, 65536)


class NatZonesExhausted(Exception):
    pass


class NatZones:
    def __init__(self, store: Store):
        self.store = store
        self._zone = {record["id"]: record["zone"]
                      for record in store.load([KIND])[KIND].values()}

    def get(self, owner: str) -> int | None:
        return self._zone.get(owner)

    def ensure(self, owner: str) -> int:
        """The zone of a router or floating IP (by id), taking a free one if it has none."""
        zone = self._zone.get(owner)
        if zone is None:
            taken = set(self._zone.values())
            zone = next((z for z in ZONES if z not in taken), None)
            if zone is None:
                raise NatZonesExhausted(f"no conntrack zone left for {owner}")
            self.store.commit(puts=[(KIND, owner, {"id": owner, "zone": zone})])
            self._zone[owner] = zone
        return zone

    def release(self, owner: str) -> None:
        if self._zone.pop(owner, None) is not None:
            self.store.commit(deletes=[(KIND, owner)])

    def keep_only(self, owners: Iterable[str]) -> None:
        """Forget the zones of owners that are gone (at start-up)."""
        for owner in set(self._zone) - set(owners):
            self.release(owner)
