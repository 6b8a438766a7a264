"""Desired OpenFlow state per bridge, computed from the model and topology (pure).

Each bridge role has its module (br_int, br_tun, br_phys); each returns ``Flow``
values.  Nothing here imports Ryu: a reconciler diffs desired against installed
flows and the Ryu shim turns the difference into flow-mods.
"""
