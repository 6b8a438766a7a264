"""What a bridge holds, group by group, and the flow-mods that take it to what it should.

One ``BridgeFlows`` per connected bridge.  Its cookie is drawn afresh each time the
bridge connects and stamped on every flow (and on what table 10 learns), so that
after re-installing everything the switch still holds from an earlier run is
recognisable by its cookie and removed, per table, without first removing
anything: an add with the same table, priority and match replaces a flow in
place, so forwarding never lapses.

Meters follow the flows that use them (a ``("meter", id, rate)`` action): set before
the first flow that names one is added, deleted after the last one is removed.  A
bridge that connects has every meter set afresh with its flows.
"""
from __future__ import annotations

import dataclasses
import secrets
from typing import Iterable

from ryu_app.pipeline.flow import Flow
from ryu_app.pipeline.planner import Group


@dataclasses.dataclass
class FlowMods:
    adds: list[Flow] = dataclasses.field(default_factory=list)      # add or replace
    deletes: list[Flow] = dataclasses.field(default_factory=list)   # strict, by cookie
    cookie: int = 0                                                 # the bridge's
    meter_sets: list[tuple[int, int]] = dataclasses.field(default_factory=list)  # (id, rate)
    meter_deletes: list[int] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.adds) + len(self.deletes)


def add_to(batches: dict[int, FlowMods], dpid: int, mods: FlowMods) -> None:
    """Append ``mods`` to the bridge's batch (deletes and adds keep their order)."""
    if mods:
        batch = batches.setdefault(dpid, FlowMods(cookie=mods.cookie))
        batch.adds += mods.adds
        batch.deletes += mods.deletes
        batch.meter_sets += mods.meter_sets
        batch.meter_deletes += mods.meter_deletes


def meter_of(flow: Flow) -> tuple[int, int] | None:
    """(meter id, rate) of the meter a flow goes through, if any."""
    for action in flow.actions:
        if action[0] == "meter":
            return action[1], action[2]
    return None


def new_cookie() -> int:
    return secrets.randbelow(2**64 - 1) + 1


class BridgeFlows:
    def __init__(self, cookie: int | None = None):
        self.cookie = cookie if cookie is not None else new_cookie()
        self.groups: dict[Group, dict[tuple, Flow]] = {}
        self._owner: dict[tuple, Group] = {}
        self._meter_users: dict[int, int] = {}   # meter id -> flows held that use it

    def replace(self, group: Group, flows: Iterable[Flow]) -> FlowMods:
        """Make ``group`` hold exactly ``flows``; the flow-mods that do it on the switch."""
        new = {flow.key: flow for flow in flows}
        old = self.groups.pop(group, {})
        for key in new:
            owner = self._owner.setdefault(key, group)
            if owner != group:
                raise ValueError(f"flow {key} is wanted by both {owner} and {group}")
        mods = FlowMods(adds=[flow for key, flow in new.items() if old.get(key) != flow],
                        deletes=[flow for key, flow in old.items() if key not in new],
                        cookie=self.cookie)
        for flow in mods.deletes:
            del self._owner[flow.key]
        if new:
            self.groups[group] = new
        self._follow_meters(mods, [old[flow.key] for flow in mods.adds if flow.key in old]
                            + mods.deletes)
        return mods

    def _follow_meters(self, mods: FlowMods, gone: list[Flow]) -> None:
        """Meters of the flows added (first) and of the versions replaced or deleted."""
        for flow in mods.adds:
            meter = meter_of(flow)
            if meter is not None:
                self._meter_users[meter[0]] = self._meter_users.get(meter[0], 0) + 1
                if self._meter_users[meter[0]] == 1:
                    mods.meter_sets.append(meter)
        for flow in gone:
            meter = meter_of(flow)
            if meter is not None:
                self._meter_users[meter[0]] -= 1
                if not self._meter_users[meter[0]]:
                    del self._meter_users[meter[0]]
                    mods.meter_deletes.append(meter[0])

    def is_stale(self, cookie: int) -> bool:
        """A flow found on the switch with another cookie is from an earlier connection."""
        return cookie != self.cookie
