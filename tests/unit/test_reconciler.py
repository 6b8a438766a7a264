"""What a bridge holds, group by group (ryu_app/reconciler.py): flows moving between
groups in one batch, and a group refused for a flow another holds."""
from ryu_app.pipeline.flow import Flow
from ryu_app.reconciler import BridgeFlows

A = Flow(60, 23, (("ipv4_src", "10.0.0.5"),), (("output", 1),))
A_ELSEWHERE = Flow(60, 23, (("ipv4_src", "10.0.0.5"),), (("output", 2),))
B = Flow(60, 23, (("ipv4_src", "10.0.0.6"),), (("output", 1),))


def test_a_flow_moving_between_groups_in_one_batch_is_one_add():
    bridge = BridgeFlows(cookie=7)
    bridge.replace(("fip", "old"), [A])
    mods, refused = bridge.replace_many({("fip", "new"): [A_ELSEWHERE], ("fip", "old"): []})
    assert refused == {}
    assert (mods.adds, mods.deletes) == ([A_ELSEWHERE], [])
    assert bridge.groups == {("fip", "new"): {A.key: A_ELSEWHERE}}


def test_a_group_wanting_a_flow_another_keeps_is_refused_and_keeps_its_own():
    bridge = BridgeFlows(cookie=7)
    bridge.replace(("fip", "one"), [A])
    bridge.replace(("fip", "two"), [B])
    mods, refused = bridge.replace_many({("fip", "two"): [A_ELSEWHERE]})
    assert list(refused) == [("fip", "two")] and not mods
    assert bridge.groups == {("fip", "one"): {A.key: A}, ("fip", "two"): {B.key: B}}
    # and what it gives up later is free for another
    mods = bridge.replace(("fip", "two"), [])
    assert mods.deletes == [B] and bridge.replace(("fip", "three"), [B]).adds == [B]
