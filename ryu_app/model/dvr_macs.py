"""DVR host MACs: one unique MAC per chassis, kept across restarts.

../shared/seeds/004_*.txt: a distributed router's interface MAC is the same on every chassis, so
routed frames must not leave a chassis with it; they leave with the chassis'
own DVR MAC instead, which every other chassis recognises.  MACs are taken
from a configurable base upwards, in the order chassis are first seen.
"""
from __future__ import annotations

from ryu_app.model.store import Store

KIND = "dvr_mac"


def _mac_int(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def _mac_str(value: int) -> str:
    return ":".join(f"{(value >> shift) & 0xFF:02x}" for shift in range(40, -8, -8))


class DvrMacs:
    def __init__(self, store: Store, base: str):
        self.store = store
        self.base = _mac_int(base)
        self._by_chassis = {record["id"]: record["mac_address"]
                            for record in store.load([KIND])[KIND].values()}

    def get(self, chassis: str) -> str | None:
        return self._by_chassis.get(chassis)

    def all(self) -> dict[str, str]:
        return dict(self._by_chassis)

    def ensure(self, chassis: str) -> str:
        """The chassis' DVR MAC, taking the next free one from the base if it has none."""
        mac = self._by_chassis.get(chassis)
        if mac is None:
            taken = {_mac_int(m) for m in self._by_chassis.values()}
            mac = _mac_str(next(v for v in range(self.base + 1, self.base + 2**24)
                                if v not in taken))
            self.store.commit(puts=[(KIND, chassis, {"id": chassis, "mac_address": mac})])
            self._by_chassis[chassis] = mac
        return mac

    def release(self, chassis: str) -> None:
        """A retired chassis' MAC is free for the next chassis seen."""
        if self._by_chassis.pop(chassis, None) is not None:
            self.store.commit(deletes=[(KIND, chassis)])
