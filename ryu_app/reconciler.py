"""What a bridge holds, group by group, and the flow-mods that take it to what it should.

One ``BridgeFlows`` per connected bridge.  Its cookie is drawn afresh each time the
bridge connects and stamped on every flow (and on what table 10 learns), so that
after re-installing everything the switch still holds from an earlier run is
recognisable by its cookie and removed, per table, without first removing
anything: an add with the same table, priority and match replaces a flow in
place, so forwarding never lapses.
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

    def __len__(self) -> int:
        return len(self.adds) + len(self.deletes)


def add_to(batches: dict[int, FlowMods], dpid: int, mods: FlowMods) -> None:
    """Append ``mods`` to the bridge's batch (deletes and adds keep their order)."""
    if mods:
        batch = batches.setdefault(dpid, FlowMods(cookie=mods.cookie))
        batch.adds += mods.adds
        batch.deletes += mods.deletes


def new_cookie() -> int:
    return secrets.randbelow(2**64 - 1) + 1


class BridgeFlows:
    def __init__(self, cookie: int | None = None):
        self.cookie = cookie if cookie is not None else new_cookie()
        self.groups: dict[Group, dict[tuple, Flow]] = {}
        self._owner: dict[tuple, Group] = {}

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
        return mods

    def is_stale(self, cookie: int) -> bool:
        """A flow found on the switch with another cookie is from an earlier connection."""
        return cookie != self.cookie
