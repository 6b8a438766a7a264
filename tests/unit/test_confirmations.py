"""What waits for a batch's confirmation (ryu_app/confirmations.py, pure): the whole
batch, or only the bridges that serve something, so that a bridge that disconnects
before its barrier holds back only what waits for it."""
from ryu_app.confirmations import Confirmations

SERVING, OTHER = 0x11, 0x21


def sent_to_two_bridges(confirmations: Confirmations, called: list):
    batch = confirmations.begin("batch")
    confirmations.sent(batch, SERVING, 3, barrier_xid=1)
    confirmations.sent(batch, OTHER, 2, barrier_xid=2)
    confirmations.follow(batch, lambda: called.append("serving"), frozenset({SERVING}))
    confirmations.follow(batch, lambda: called.append("whole batch"))
    confirmations.end(batch)
    return batch


def test_a_bridge_gone_before_its_barrier_holds_back_only_what_waits_for_it():
    confirmations, called = Confirmations(), []
    batch = sent_to_two_bridges(confirmations, called)
    confirmations.bridge_gone(OTHER)
    assert called == []
    confirmations.barrier_reply(SERVING, 1)
    assert called == ["serving"]
    assert batch.confirmed is None          # the wiring view does not call it confirmed
    assert confirmations.view()["events"][0]["confirmed_at"] is None


def test_each_follow_up_is_called_once_when_its_bridges_answered():
    confirmations, called = Confirmations(), []
    batch = sent_to_two_bridges(confirmations, called)
    confirmations.barrier_reply(OTHER, 2)
    assert called == []                     # the serving bridge has not answered
    confirmations.barrier_reply(SERVING, 1)
    confirmations.barrier_reply(SERVING, 1)   # a late duplicate calls nothing again
    assert called == ["serving", "whole batch"] and batch.confirmed is not None
    confirmations.follow(batch, lambda: called.append("after"), frozenset({SERVING}))
    assert called[-1] == "after"            # nothing left to wait for: at once
