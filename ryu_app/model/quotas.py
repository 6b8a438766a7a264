"""Neutron's quotas (``quotas`` and ``quota_details``): a limit per project and resource.

A project's limits are the configured defaults unless an admin set its own; those are
one stored record per project (kind ``quota``), so they survive a restart like any
write.  Usage is counted from the records themselves, every one the project owns
(its DHCP and router interface ports included, as Neutron counts them; gateway, SNAT and
floating IP ports belong to no project, as in Neutron), and a limit is enforced
only on the API's own creates: the DHCP, router and floating IP ports and the default
security group the controller makes are never refused.  The check and the create's
commit run in one call with no I/O that yields between them (the store is synchronous
SQLite), so two green threads cannot both pass a check for the last free unit.
A request body's limits are checked in rest/attributes.py (``parse_quota_body``).
"""
from __future__ import annotations

from ryu_app.model.errors import InvalidQuotaValue, OverQuota

KIND = "quota"
# Neutron's defaults (neutron/conf/quota.py; subnet pools, which ML2 tracks too, take
# quota_default: unlimited); the configuration may change them.
DEFAULT_LIMITS = {"network": 100, "subnet": 100, "port": 500, "router": 10,
                  "floatingip": 50, "security_group": 10, "security_group_rule": 100,
                  "subnetpool": -1}
class Quotas:
    """The quota operations of NetworkModel; ``records``, ``store``, ``_owner`` and the
    ``create_*`` methods are the model's own."""

    def _init_quotas(self, defaults: dict[str, int] | None) -> None:
        self.quota_defaults = {**DEFAULT_LIMITS, **(defaults or {})}
        self.quota_of = {record["id"]: record["limits"]
                         for record in self.store.load([KIND])[KIND].values()}

    def create(self, kind: str, values: dict, project: str | None = None) -> dict:
        """An API create: refused with OverQuota when the project is at its limit."""
        self._refuse_over_quota(kind, self._owner(values, project))
        return getattr(self, f"create_{kind}")(values, project)

    def _refuse_over_quota(self, kind: str, project: str) -> None:
        limit = self.quota_limits(project).get(kind, -1)   # kinds without a quota: none
        if limit >= 0 and self._used(kind, project) + 1 > limit:
            raise OverQuota(overs=[kind])

    def _used(self, kind: str, project: str) -> int:
        return sum(1 for record in self.records[kind].values()
                   if record["project_id"] == project)

    def quota_limits(self, project: str) -> dict[str, int]:
        """The project's limits: its own where set, the defaults elsewhere."""
        return {**self.quota_defaults, **self.quota_of.get(project, {})}

    def quota_details(self, project: str) -> dict[str, dict[str, int]]:
        """Limit, usage and reservations (none: creates are not reserved ahead)."""
        return {kind: {"limit": limit, "used": self._used(kind, project), "reserved": 0}
                for kind, limit in self.quota_limits(project).items()}

    def known_projects(self) -> list[str]:
        """The projects that own a resource or have limits of their own, sorted."""
        return sorted({record["project_id"] for records in self.records.values()
                       for record in records.values() if record.get("project_id")}
                      | set(self.quota_of))

    def quota_projects(self) -> list[dict]:
        """``GET /quotas``: the projects with limits of their own, as Neutron lists them."""
        return [{**self.quota_limits(project), "project_id": project, "tenant_id": project}
                for project in self.quota_of]

    def update_quota(self, project: str, limits: dict[str, int],
                     check: bool) -> dict[str, int]:
        """``PUT /quotas/{project}``: the given limits replace the project's; with
        ``check``, none may be set under what the project already uses."""
        if check:
            unders = sorted(kind for kind, limit in limits.items()
                            if 0 <= limit < self._used(kind, project))
            if unders:
                raise InvalidQuotaValue(unders=unders)
        merged = {**self.quota_of.get(project, {}), **limits}
        self.store.commit(puts=[(KIND, project, {"id": project, "limits": merged})])
        self.quota_of[project] = merged
        return self.quota_limits(project)

    def delete_quota(self, project: str) -> None:
        """``DELETE /quotas/{project}``: back to the defaults (nothing to do if it was)."""
        if self.quota_of.pop(project, None) is not None:
            self.store.commit(deletes=[(KIND, project)])
