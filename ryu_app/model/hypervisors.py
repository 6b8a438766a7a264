"""The hypervisors that have registered, kept across restarts.

A hypervisor describes itself (its OVSDB ``Open_vSwitch`` row); the controller keeps
the last description so that, after a restart and before the hypervisor reconnects,
its agent is still listed (not alive), its ports still count for l2population, and
other hypervisors keep their tunnels to it.
"""
from __future__ import annotations

from ryu_app.model.store import Store
from topology.chassis import ChassisSpec

KIND = "hypervisor"


class Hypervisors:
    def __init__(self, store: Store):
        self.store = store
        self._specs = {record["id"]: ChassisSpec.from_record(record)
                       for record in store.load([KIND])[KIND].values()}

    def all(self) -> list[ChassisSpec]:
        return list(self._specs.values())

    def zones(self) -> dict[str, str]:
        """Each hypervisor's availability zone."""
        return {name: spec.availability_zone for name, spec in self._specs.items()}

    def register(self, spec: ChassisSpec) -> bool:
        """Keep this description; True if it is new or changed."""
        if self._specs.get(spec.name) == spec:
            return False
        self.store.commit(puts=[(KIND, spec.name, spec.record())])
        self._specs[spec.name] = spec
        return True

    def unregister(self, name: str) -> None:
        """Forget a retired hypervisor's description."""
        if self._specs.pop(name, None) is not None:
            self.store.commit(deletes=[(KIND, name)])
