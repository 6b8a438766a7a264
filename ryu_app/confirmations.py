"""When the hypervisors confirmed what an event sent them, per event.

Every batch of flow-mods the controller sends is followed by a barrier request, and
every OVSDB transaction (port tags, bridges, tunnels) is answered; an event (a batch of
port plugs and API writes, a bridge connecting) is wired when all its barriers and
transactions are answered.  ``GET /v2.0/wiring`` shows the recent events, which is what
``make bench`` measures.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Event:
    what: str
    details: dict
    started: float = field(default_factory=time.time)
    flow_mods: int = 0
    barriers: int = 0
    transactions: int = 0
    bridges: set[int] = field(default_factory=set)
    # (dpid, barrier xid) and ("ovsdb", session id, transaction key) not answered yet
    pending: set[tuple] = field(default_factory=set)
    ended: bool = False
    sent: float | None = None      # when its outputs were handed to the sockets
    confirmed: float | None = None
    # (bridges, call): called once those bridges (None: everything) confirmed the event
    follow_ups: list[tuple[frozenset[int] | None, Callable[[], None]]] = field(
        default_factory=list)

    def view(self, host_of: Callable[[int], str | None]) -> dict:
        return {"event": self.what, **self.details, "started_at": self.started,
                "flow_mods": self.flow_mods, "barriers": self.barriers,
                "ovsdb_transactions": self.transactions, "bridges": len(self.bridges),
                "hosts": sorted({host for dpid in self.bridges
                                 if (host := host_of(dpid)) is not None}),
                "sent_at": self.sent, "confirmed_at": self.confirmed,
                "latency_ms": None if self.confirmed is None
                else round((self.confirmed - self.started) * 1000, 3)}


class Confirmations:
    def __init__(self, keep: int = 2000,
                 host_of: Callable[[int], str | None] = lambda dpid: None):
        """``host_of``: the hypervisor a datapath id belongs to, for the view."""
        self.host_of = host_of
        self.events: collections.deque[Event] = collections.deque(maxlen=keep)
        self._waiting: dict[tuple, Event] = {}

    def begin(self, what: str, **details) -> Event:
        """An event starts; it is kept (and shown) once it sends something."""
        return Event(what, details)

    def _keep(self, event: Event) -> None:
        """Called before an event's first output is counted: it is shown from then on."""
        if not event.flow_mods and not event.transactions:
            self.events.append(event)

    def sent(self, event: Event, dpid: int, flow_mods: int, barrier_xid: int) -> None:
        self._keep(event)
        event.flow_mods += flow_mods
        event.barriers += 1
        event.bridges.add(dpid)
        event.pending.add((dpid, barrier_xid))
        self._waiting[(dpid, barrier_xid)] = event

    def transacted(self, event: Event, session: int, key) -> None:
        """An OVSDB transaction the event sent."""
        self._keep(event)
        event.transactions += 1
        event.pending.add(("ovsdb", session, key))
        self._waiting[("ovsdb", session, key)] = event

    def follow(self, event: Event, call: Callable[[], None],
               bridges: frozenset[int] | None = None) -> None:
        """Call once the event's barriers on ``bridges`` are answered (None: once the
        whole event is confirmed).  A bridge that disconnected first never answers: what
        waits for it is not called, what waits for others is."""
        event.follow_ups.append((bridges, call))
        self._settle(event)

    def transaction_replied(self, session: int, key) -> None:
        self.barrier_reply("ovsdb", session, key)

    def end(self, event: Event) -> None:
        event.ended = True
        event.sent = time.time()
        self._settle(event)

    def barrier_reply(self, *answered) -> None:
        """A barrier (dpid, xid) or a transaction ("ovsdb", session, key) was answered."""
        event = self._waiting.pop(answered, None)
        if event is not None:
            event.pending.discard(answered)
            self._settle(event)

    def bridge_gone(self, dpid: int) -> None:
        """A disconnected bridge will not answer: its events stay unconfirmed."""
        for key in [key for key in self._waiting if key[0] == dpid]:
            del self._waiting[key]

    def session_gone(self, session: int) -> None:
        """Nor will a closed OVSDB session (answers it still reports come first)."""
        for key in [key for key in self._waiting if key[:2] == ("ovsdb", session)]:
            del self._waiting[key]

    @staticmethod
    def _settle(event: Event) -> None:
        if not event.ended:
            return
        if not event.pending and event.confirmed is None:
            event.confirmed = time.time()
        waiting_on = {key[0] for key in event.pending}   # dpids, and "ovsdb"
        due = [follow_up for follow_up in event.follow_ups if (
            not event.pending if follow_up[0] is None else not follow_up[0] & waiting_on)]
        for follow_up in due:
            event.follow_ups.remove(follow_up)
            follow_up[1]()

    def view(self) -> dict:
        return {"events": [event.view(self.host_of) for event in self.events]}
