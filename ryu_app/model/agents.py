"""What an operator sets on a hypervisor's agent (``PUT /v2.0/agents/{id}``).

Everything else an agent entry shows describes the hypervisor itself (its database,
its session); these two fields are the operator's, so they are records of their own
(kind ``agent``, keyed by the agent's id), durable like any write, and a write is a
journal entry the engine acts on.  ``admin_state_up`` false means the hypervisor takes
no new port bindings: a VM device that appears there for a port not bound there
already leaves the port DOWN with ``binding:vif_type`` ``binding_failed`` (its packets
stay in the dead VLAN), while ports bound there before keep working, and a device there
for a port live on another hypervisor is ignored.  Enabling it again binds the devices
waiting.  Neutron's ML2 driver binds to any live agent, enabled or not; here disabling
is how an operator drains a hypervisor.

``DELETE /v2.0/agents/{id}`` retires a hypervisor that is gone (renamed, decommissioned):
the write is a mark on its agent record (``retired``), durable at once; the engine then
forgets the hypervisor (its description, bridges, DVR MAC, local VLANs; its ports go
DOWN; routers' SNAT moves off it) and drops the record.  A controller that dies in
between finishes the retirement when it starts again.
"""
from __future__ import annotations

KIND = "agent"


class AgentSettings:
    """The agent operations of NetworkModel; ``records`` and ``_commit_one`` are the
    model's own."""

    def agent_settings(self, agent_id: str) -> dict:
        """The operator's fields of one agent: enabled, no description, unless set."""
        record = self.records[KIND].get(agent_id, {})
        return {"admin_state_up": record.get("admin_state_up", True),
                "description": record.get("description")}

    def takes_new_bindings(self, host: str) -> bool:
        """False when the operator disabled the agent of this hypervisor, or deleted it."""
        return all(record["admin_state_up"] and not record.get("retired")
                   for record in self.records[KIND].values() if record["host"] == host)

    def retiring_hosts(self) -> set[str]:
        """The hypervisors whose agents were deleted and that are not yet forgotten."""
        return {record["host"] for record in self.records[KIND].values()
                if record.get("retired")}

    def retire_agent(self, agent_id: str, host: str) -> None:
        """Mark the agent deleted (one durable write; the engine acts on it), keeping
        the operator's fields in case its hypervisor comes back first."""
        self._commit_one(KIND, {**self._agent_record(agent_id, host), "retired": True})

    def forget_agent(self, agent_id: str) -> None:
        """Drop a retired agent's record, once the engine forgot its hypervisor."""
        if agent_id in self.records[KIND]:
            self._delete_one(KIND, agent_id)

    def keep_agent(self, agent_id: str) -> None:
        """A deletion its hypervisor's return overtook: the mark goes, its fields stay."""
        record = self.records[KIND].get(agent_id)
        if record is not None and record.get("retired"):
            self._commit_one(KIND, {k: v for k, v in record.items() if k != "retired"})

    def _agent_record(self, agent_id: str, host: str) -> dict:
        return self.records[KIND].get(agent_id) or {
            "id": agent_id, "host": host, **self.agent_settings(agent_id)}

    def update_agent(self, agent_id: str, host: str, values: dict) -> dict:
        """The operator's fields of the agent of ``host``, as updated; one write."""
        before = self._agent_record(agent_id, host)
        record = {**before, **values}
        if record != before:
            self._commit_one(KIND, record)
        return self.agent_settings(agent_id)
