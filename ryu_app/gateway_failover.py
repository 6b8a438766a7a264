"""Which gateway hypervisors are passed over for SNAT because they have been down too long:
Neutron's ``allow_automatic_l3agent_failover`` with its ``agent_down_time``.

A ``dvr_snat`` hypervisor that has not been alive (OVSDB session up and every bridge
connected over OpenFlow) for ``down_time`` seconds is passed over: the routers whose SNAT
it ran go to the next gateway hypervisor in their ranking (ryu_app/pipeline/nat_planner.py).
Once it is alive again it is ranked again, and takes its routers back: placement stays a
function of who is up, as after a retirement or a new registration, and no router is left
where an operator cannot tell why.  Pure: the engine hands in the time and who is alive.
Nothing is stored; after a controller restart a hypervisor that stays away is down since
the start.
"""
from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)


class GatewayFailover:
    def __init__(self, down_time: float | None):
        """``down_time``: seconds a gateway hypervisor may be down before it is passed
        over; None: never (Neutron's default, ``allow_automatic_l3agent_failover = False``)."""
        self.down_time = down_time
        self.passed_over: frozenset[str] = frozenset()
        self._down_since: dict[str, float] = {}

    def observe(self, now: float, alive: dict[str, bool]) -> bool:
        """Each gateway hypervisor's liveness at ``now`` (those not named are forgotten):
        True when the hypervisors passed over changed."""
        if self.down_time is None:
            return False
        for chassis in set(self._down_since) - set(alive):
            del self._down_since[chassis]
        for chassis, up in alive.items():
            if up:
                self._down_since.pop(chassis, None)
            else:
                self._down_since.setdefault(chassis, now)
        passed_over = frozenset(chassis for chassis, since in self._down_since.items()
                                if now - since >= self.down_time)
        for chassis in sorted(passed_over - self.passed_over):
            LOG.warning("gateway hypervisor %s has not been alive for %ss: its routers' SNAT "
                        "moves to the next gateway hypervisor", chassis, self.down_time)
        for chassis in sorted(self.passed_over - passed_over):
            if alive.get(chassis):   # else retired
                LOG.info("gateway hypervisor %s is alive again: it takes its routers' SNAT "
                         "back", chassis)
        changed, self.passed_over = passed_over != self.passed_over, passed_over
        return changed
