"""The access tags the engine asked each hypervisor's VM ports to have, and whether that
write is settled: the database showed the tag, or the write was refused for good.

A settled tag that the database then shows otherwise has drifted: ``ovs-vsctl set port
vnetN tag=M`` (the VM joins another network in NORMAL's switching) or a Port row deleted
and added again with the same name, ofport and iface-id between two looks (no tag: a
trunk, which NORMAL floods every network's frames into).  Such a port is tagged again.
A write not yet settled is on its way, not drift: counting it would recompute every port
whose tags transaction is in flight at each update of a busy br-int.  A tag the database
already shows when it is asked (a restart) is settled at once, since no update will come
to show it.
"""
from __future__ import annotations

from typing import Iterable, Mapping


class AskedTags:
    def __init__(self) -> None:
        # chassis -> device -> (the tag asked, whether that write is settled)
        self._asked: dict[str, dict[str, tuple[int, bool]]] = {}
        self._shown: dict[str, Mapping[str, int | None]] = {}   # chassis' br-int, last read

    def asked(self, chassis: str, device: str, tag: int) -> None:
        entry = self._asked.setdefault(chassis, {}).get(device)
        if entry is None or entry[0] != tag:
            shown = self._shown.get(chassis, {}).get(device) == tag
            self._asked[chassis][device] = (tag, shown)

    def refused(self, chassis: str, devices: Iterable[str]) -> None:
        """Writes given up on: the next look that shows another tag tries again."""
        asked = self._asked.get(chassis, {})
        for device in devices:
            if device in asked:
                asked[device] = (asked[device][0], True)

    def forget(self, chassis: str, device: str | None = None) -> None:
        """A device unplugged, or (no device) a hypervisor's br-int gone or retired."""
        if device is None:
            self._asked.pop(chassis, None)
            self._shown.pop(chassis, None)
        else:
            self._asked.get(chassis, {}).pop(device, None)

    def drifted(self, chassis: str, shown: Mapping[str, int | None]) -> set[str]:
        """The devices whose settled tag the database (``shown``: its tags now) shows
        otherwise; the writes it shows landed are settled."""
        self._shown[chassis] = shown
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
