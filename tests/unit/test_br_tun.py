"""br-tun's skeleton is the one ../shared/seeds/001_*.txt dissects, table by table, and its
learn() is the seed's (what the tables then do is tests/unit/test_*_behaviour.py)."""
from ryu_app.pipeline.br_tun import LEARN_REMOTE_MAC, default_flows
from ryu_app.pipeline.flow import match

PATCH_INT = 1


def test_default_skeleton_matches_the_seed():
    flows = {(f.table, f.priority, f.match): f.actions for f in default_flows(PATCH_INT)}
    assert flows[(0, 1, match(in_port=PATCH_INT))] == (("goto", 1),)   # DVR egress first
    assert flows[(1, 0, ())] == (("goto", 2),)
    assert flows[(9, 0, ())] == (("goto", 10),)
    assert flows[(0, 0, ())] == ()  # everything else dropped
    assert flows[(10, 1, ())] == (LEARN_REMOTE_MAC, ("output", PATCH_INT))
    assert LEARN_REMOTE_MAC[1:4] == (20, 1, 300)  # table, priority, hard_timeout
    assert flows[(20, 0, ())] == (("goto", 22),) and flows[(21, 0, ())] == (("goto", 22),)
    assert flows[(22, 0, ())] == () and flows[(3, 0, ())] == () and flows[(4, 0, ())] == ()
    assert len(flows) == len(default_flows(PATCH_INT))  # no two flows share a key
