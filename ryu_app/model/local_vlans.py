"""Local VLANs: per chassis, the VLAN id br-int uses for each network with ports there.

../shared/seeds/000_*.txt: a VM port's access tag is its network's local VLAN on that
chassis, not the network's segmentation id, and two chassis may use different ids for
the same network.  Ids are kept in the store so that a controller restart gives
every port the tag it already has, and freed with a network's last port there.

Ids are handed out next-fit (after the last one given on the chassis, wrapping), not
lowest-first: a freed id is not given to the next network while the dead tag of a device
the old network left there may still be on its way over OVSDB (the device would receive
the new network's floods until it lands).  The last id given is stored too, so that a
restart does not go back to the lowest free id.
"""
from __future__ import annotations

import itertools

from ryu_app.model.store import Store

KIND = "local_vlan"
CURSOR = "local_vlan_cursor"   # per chassis: the last id given there
VLAN_IDS = range(1, 4095)  # 4095 is the dead VLAN


class LocalVlansExhausted(Exception):
    pass


class LocalVlans:
    def __init__(self, store: Store):
        self.store = store
        self._vid: dict[tuple[str, str], int] = {}       # (chassis, network) -> vid
        self._used: dict[str, set[int]] = {}             # chassis -> vids taken
        self._chassis: dict[str, set[str]] = {}          # network -> chassis serving it
        self._puts: dict[str, dict] = {}                 # staged until commit()
        self._deletes: set[str] = set()
        self._forgotten: set[str] = set()                # chassis whose cursor goes
        stored = store.load([KIND, CURSOR])
        self._last = {chassis: record["vlan"]                # chassis -> the last vid given
                      for chassis, record in stored[CURSOR].items()}
        self._moved: set[str] = set()                        # chassis whose _last is staged
        for record in stored[KIND].values():
            self._remember(record["chassis"], record["network_id"], record["vlan"])

    def get(self, chassis: str, network_id: str) -> int | None:
        return self._vid.get((chassis, network_id))

    def networks_on(self, chassis: str) -> list[str]:
        return [network for (host, network) in self._vid if host == chassis]

    def chassis_of(self, network_id: str) -> set[str]:
        """The chassis that have a local VLAN for the network."""
        return set(self._chassis.get(network_id, ()))

    def ensure(self, chassis: str, network_id: str) -> int:
        """The network's local VLAN on the chassis, taking the next free id after the last
        one given there if it has none."""
        vid = self.get(chassis, network_id)
        if vid is not None:
            return vid
        used = self._used.get(chassis, set())
        last = self._last.get(chassis, 0)
        vid = next((v for v in itertools.chain(VLAN_IDS[last:], VLAN_IDS[:last])
                    if v not in used), None)
        if vid is None:
            raise LocalVlansExhausted(f"chassis {chassis} has no free local VLAN id")
        self._last[chassis] = vid
        self._moved.add(chassis)
        self._forgotten.discard(chassis)
        key = _key(chassis, network_id)
        self._puts[key] = {"id": key, "chassis": chassis, "network_id": network_id,
                           "vlan": vid}
        self._deletes.discard(key)
        self._remember(chassis, network_id, vid)
        return vid

    def release(self, chassis: str, network_id: str) -> None:
        vid = self._vid.get((chassis, network_id))
        if vid is None:
            return
        key = _key(chassis, network_id)
        if self._puts.pop(key, None) is None:
            self._deletes.add(key)
        del self._vid[(chassis, network_id)]
        self._used[chassis].discard(vid)
        self._chassis[network_id].discard(chassis)

    def forget(self, chassis: str) -> None:
        """A retired chassis: every id it held is freed, and where it was in them."""
        for network_id in self.networks_on(chassis):
            self.release(chassis, network_id)
        self._used.pop(chassis, None)
        if self._last.pop(chassis, None) is not None:
            self._forgotten.add(chassis)
        self._moved.discard(chassis)

    def commit(self) -> None:
        """Store what was allocated and freed since the last commit, in one transaction
        (the engine commits before it sends a tag or flow that uses a local VLAN)."""
        if self._puts or self._deletes or self._moved or self._forgotten:
            cursors = [(CURSOR, chassis, {"id": chassis, "vlan": self._last[chassis]})
                       for chassis in self._moved]
            self.store.commit(
                puts=[(KIND, key, record) for key, record in self._puts.items()] + cursors,
                deletes=[(KIND, key) for key in self._deletes]
                + [(CURSOR, chassis) for chassis in self._forgotten])
            self._puts.clear()
            self._deletes.clear()
            self._moved.clear()
            self._forgotten.clear()

    def _remember(self, chassis: str, network_id: str, vid: int) -> None:
        self._vid[(chassis, network_id)] = vid
        self._used.setdefault(chassis, set()).add(vid)
        self._chassis.setdefault(network_id, set()).add(chassis)


def _key(chassis: str, network_id: str) -> str:
    return f"{chassis}/{network_id}"
