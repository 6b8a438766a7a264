"""Which gateway hypervisors are passed over for SNAT because they have been down too long:
Neutron's ``allow_automatic_l3agent_failover`` with its ``agent_down_time``.

A ``dvr_snat`` hypervisor that has not been alive (OVSDB session up and every bridge
connected over OpenFlow) for ``down_time`` seconds is passed over: the routers whose SNAT
it ran go to the next gateway hypervisor in their ranking (ryu_app/pipeline/nat_planner.py).
It is ranked again once it has been alive for ``down_time`` seconds in a row, and takes
its routers back: a node that flaps keeps none, and placement stays a function of who
is up, as after a retirement or a new registration.  Pure: the engine hands in the time
and who is alive, and stores who is passed over (ryu_app/model/passed_over.py), so that a
controller restart does not hand routers back to a node that is still away.
"""
from __future__ import annotations

import logging
from typing import Iterable

LOG = logging.getLogger(__name__)


class GatewayFailover:
    def __init__(self, down_time: float | None, passed_over: Iterable[str] = ()):
        """``down_time``: seconds a gateway hypervisor may be down before it is passed
        over, and must be alive before it is ranked again; None: never passed over
        (Neutron's default, ``allow_automatic_l3agent_failover = False``).
        ``passed_over``: those passed over when the controller stopped."""
        self.down_time = down_time
        self.passed_over: frozenset[str] = frozenset(passed_over) if down_time else frozenset()
        self._down_since: dict[str, float] = {}
        self._up_since: dict[str, float] = {}

    def observe(self, now: float, alive: dict[str, bool]) -> frozenset[str]:
        """Each gateway hypervisor's liveness at ``now`` (those not named are forgotten):
        the hypervisors to pass over from now on (``take`` them)."""
        if self.down_time is None:
            return self.passed_over
        for since in (self._down_since, self._up_since):
            for chassis in set(since) - set(alive):
                del since[chassis]
        for chassis, up in alive.items():
            (self._up_since if up else self._down_since).setdefault(chassis, now)
            (self._down_since if up else self._up_since).pop(chassis, None)
        return frozenset(chassis for chassis in alive if self._still_passed_over(chassis, now))

    def take(self, passed_over: frozenset[str]) -> None:
        """Pass these over from now on."""
        for chassis in sorted(passed_over - self.passed_over):
            LOG.warning("gateway hypervisor %s has not been alive for %ss: the routers whose "
                        "SNAT it ran go to another", chassis, self.down_time)
        for chassis in sorted((self.passed_over - passed_over) & set(self._up_since)):
            LOG.info("gateway hypervisor %s has been alive for %ss: it takes its routers' "
                     "SNAT back", chassis, self.down_time)
        self.passed_over = passed_over

    def _still_passed_over(self, chassis: str, now: float) -> bool:
        if chassis in self._down_since:
            return chassis in self.passed_over or now - self._down_since[chassis] >= self.down_time
        return chassis in self.passed_over and now - self._up_since[chassis] < self.down_time

    def ranked(self, candidates: list[str]) -> list[str]:
        """The candidates a router's SNAT may go to: those not passed over; if every one
        is, those alive again (still on probation), else the one down for the shortest
        time (where the router went last)."""
        live = [chassis for chassis in candidates if chassis not in self.passed_over]
        if live or not candidates:
            return live
        latest = max(self._down_since.get(chassis, float("inf")) for chassis in candidates)
        return [chassis for chassis in candidates
                if self._down_since.get(chassis, float("inf")) == latest]

    def timings(self) -> tuple[dict[str, float], dict[str, float]]:
        """Since when each is down or up (to put back with ``restore``)."""
        return dict(self._down_since), dict(self._up_since)

    def restore(self, timings: tuple[dict[str, float], dict[str, float]]) -> None:
        self._down_since, self._up_since = (dict(since) for since in timings)

    def ranking_state(self) -> tuple:
        """What ``ranked`` decides by beyond the candidates: who is passed over, and since
        when those are down (a placement can change only when this does)."""
        return self.passed_over, tuple(sorted(
            (chassis, self._down_since.get(chassis)) for chassis in self.passed_over))
