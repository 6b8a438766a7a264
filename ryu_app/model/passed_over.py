"""The gateway hypervisors whose routers' SNAT failed over (ryu_app/gateway_failover.py),
kept across restarts: a controller started while one is still away does not hand its
routers back to it for another ``agent_down_time``."""
from __future__ import annotations

from ryu_app.model.store import Store

KIND = "passed_over_gateway"


class PassedOverGateways:
    def __init__(self, store: Store):
        self.store = store
        self.names = frozenset(store.load([KIND])[KIND])

    def keep(self, names: frozenset[str]) -> None:
        """Store this set of names in place of the last."""
        if names == self.names:
            return
        self.store.commit(puts=[(KIND, name, {"id": name}) for name in sorted(names - self.names)],
                          deletes=[(KIND, name) for name in sorted(self.names - names)])
        self.names = names
