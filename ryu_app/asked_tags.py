"""The access tags the engine asked each hypervisor's VM ports to have, and whether the
hypervisor's database has shown them since.

A tag that landed and then changed has drifted: ``ovs-vsctl set port vnetN tag=M`` (the
VM joins another network in NORMAL's switching) or a Port row deleted and added again
with the same name, ofport and iface-id within one update (no tag: a trunk, which NORMAL
floods every network's frames into).  Such a port is tagged again.  A tag not yet seen
landed is on its way, not drift: counting it would recompute every port whose tags
transaction is in flight at each update of a busy br-int.
"""
from __future__ import annotations

from typing import Mapping


class AskedTags:
    def __init__(self) -> None:
        # chassis -> device -> (the tag asked, whether the database has shown it since)
        self._asked: dict[str, dict[str, tuple[int, bool]]] = {}

    def asked(self, chassis: str, device: str, tag: int) -> None:
        entry = self._asked.setdefault(chassis, {}).get(device)
        if entry is None or entry[0] != tag:
            self._asked[chassis][device] = (tag, False)

    def forget(self, chassis: str, device: str | None = None) -> None:
        """A device unplugged, or (no device) a hypervisor retired."""
        if device is None:
            self._asked.pop(chassis, None)
        else:
            self._asked.get(chassis, {}).pop(device, None)

    def drifted(self, chassis: str, shown: Mapping[str, int | None]) -> set[str]:
        """The devices whose tag, having landed, is now another (``shown``: the tags the
        database has); those landing now are noted."""
        asked = self._asked.get(chassis, {})
        drifted = set()
        for device, tag in shown.items():
            entry = asked.get(device)
            if entry is None:
                continue
            if tag == entry[0]:
                if not entry[1]:
                    asked[device] = (tag, True)
            elif entry[1]:
                asked[device] = (entry[0], False)   # asked again: it has to land again
                drifted.add(device)
        return drifted
