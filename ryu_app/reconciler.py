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


LEARNED = 1 << 63   # the cookie bit of what table 10 learns; a bridge's own cookie is below


def new_cookie() -> int:
    return secrets.randbelow(LEARNED - 1) + 1


def learned_cookie(cookie: int) -> int:
    """The cookie learned flows carry: the bridge's with the top bit set, so that they can
    be deleted apart from the flows the controller put in the same table."""
    return cookie | LEARNED


class BridgeFlows:
    def __init__(self, cookie: int | None = None):
        self.cookie = cookie if cookie is not None else new_cookie()
        self.groups: dict[Group, dict[tuple, Flow]] = {}
        self._owner: dict[tuple, Group] = {}
        self._meter_users: dict[int, int] = {}   # meter id -> flows held that use it

    def replace(self, group: Group, flows: Iterable[Flow]) -> FlowMods:
        """Make ``group`` hold exactly ``flows``; the flow-mods that do it on the switch.
        A flow another group holds is a ValueError, and nothing changes."""
        mods, refused = self.replace_many({group: flows})
        if refused:
            raise ValueError(refused[group])
        return mods

    def replace_many(self, wanted: dict[Group, Iterable[Flow]]
                     ) -> tuple[FlowMods, dict[Group, str]]:
        """Make each group of ``wanted`` hold exactly its flows, all at once: a flow one
        of them gives up may be taken by another (a floating IP deleted and another made
        for the same port in one batch).  A group that wants a flow held by a group left
        out, or wanted by another of the batch, is refused and keeps what it holds; the
        flow-mods of the rest, and why each refused group was refused."""
        new = {group: {flow.key: flow for flow in flows} for group, flows in wanted.items()}
        refused = self._conflicts(new)
        for group in refused:
            del new[group]
        old = {group: self.groups.pop(group, {}) for group in new}
        old_flows = {key: flow for flows in old.values() for key, flow in flows.items()}
        new_flows = {key: flow for flows in new.values() for key, flow in flows.items()}
        mods = FlowMods(adds=[flow for key, flow in new_flows.items()
                              if old_flows.get(key) != flow],
                        deletes=[flow for key, flow in old_flows.items()
                                 if key not in new_flows],
                        cookie=self.cookie)
        for key in old_flows:
            del self._owner[key]
        for group, flows in new.items():
            if flows:
                self.groups[group] = flows
            self._owner.update(dict.fromkeys(flows, group))
        self._follow_meters(mods, [old_flows[flow.key] for flow in mods.adds
                                   if flow.key in old_flows] + mods.deletes)
        return mods, refused

    def _conflicts(self, new: dict[Group, dict[tuple, Flow]]) -> dict[Group, str]:
        """The groups to refuse, until the others agree with each other and with what
        the groups left out hold."""
        refused: dict[Group, str] = {}
        while True:
            batch = {group: flows for group, flows in new.items() if group not in refused}
            found = self._first_conflict(batch)
            if not found:
                return refused
            refused.update(found)

    def _first_conflict(self, batch: dict[Group, dict[tuple, Flow]]) -> dict[Group, str]:
        """The first group of the batch that wants a flow another wants or keeps."""
        claimed: dict[tuple, Group] = {}
        for group, flows in batch.items():
            for key in flows:
                holder = self._owner.get(key)
                other = claimed.setdefault(key, group)
                if other == group and holder not in (None, group) and (
                        holder not in batch or key in batch[holder]):
                    other = holder
                if other != group:
                    return {group: f"flow {key} is wanted by both {other} and {group}"}
        return {}

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
        return cookie not in (self.cookie, learned_cookie(self.cookie))
