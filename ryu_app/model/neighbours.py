"""The MACs of the external networks' gateways (the upstream routers), as the controller
resolved them by ARP, kept across restarts: a restarted controller programs SNAT and
floating IPs at once, and learns a changed MAC from the next answer."""
from __future__ import annotations

from ryu_app.model.store import Store

KIND = "neighbour"


class Neighbours:
    def __init__(self, store: Store):
        self.store = store
        self._mac = {(record["network_id"], record["ip"]): record["mac"]
                     for record in store.load([KIND])[KIND].values()}

    def get(self, network_id: str, ip: str) -> str | None:
        return self._mac.get((network_id, ip))

    def learn(self, network_id: str, ip: str, mac: str) -> bool:
        """Note an answer; True when it is news (first seen, or a new MAC)."""
        if self._mac.get((network_id, ip)) == mac:
            return False
        key = f"{network_id}/{ip}"
        self.store.commit(puts=[(KIND, key, {"id": key, "network_id": network_id, "ip": ip,
                                             "mac": mac})])
        self._mac[(network_id, ip)] = mac
        return True
