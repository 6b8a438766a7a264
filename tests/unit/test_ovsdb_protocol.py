"""OVSDB wire values, the monitored replica and message framing (pure)."""
import json

from ryu_app.ovsdb.protocol import MessageStream, Replica, decode, members, scalar


def test_wire_values_decode_to_python():
    assert decode(["set", []]) == [] and scalar(decode(["set", []])) is None
    assert decode(["map", [["iface-id", "p1"], ["attached-mac", "fa:16:3e:00:00:01"]]]) == {
        "iface-id": "p1", "attached-mac": "fa:16:3e:00:00:01"}
    assert decode(["uuid", "u1"]) == "u1" and members(decode(["uuid", "u1"])) == ["u1"]
    assert decode(["set", [["uuid", "u1"], ["uuid", "u2"]]]) == ["u1", "u2"]
    assert scalar(4) == 4 and scalar(decode(["set", [7]])) == 7


def test_the_replica_follows_inserts_and_differences():
    replica = Replica()
    replica.apply({"Interface": {"i1": {"insert": {"name": "vnet0", "type": "internal"}}}})
    assert replica.get("Interface", "i1") == {"name": "vnet0", "type": "internal", "ofport": [],
                                              "options": {}, "external_ids": {}}
    replica.apply({"Interface": {"i1": {"modify": {
        "ofport": 5, "external_ids": ["map", [["iface-id", "p1"], ["attached-mac", "m"]]]}}}})
    row = replica.get("Interface", "i1")
    assert scalar(row["ofport"]) == 5 and row["external_ids"] == {"iface-id": "p1",
                                                                   "attached-mac": "m"}
    # an optional value is replaced; a map's difference removes the pairs it repeats and
    # changes the others; a set's toggles elements
    replica.apply({"Interface": {"i1": {"modify": {
        "ofport": 7, "external_ids": ["map", [["iface-id", "p2"], ["attached-mac", "m"]]]}}}})
    row = replica.get("Interface", "i1")
    assert row["ofport"] == [7] and row["external_ids"] == {"iface-id": "p2"}
    replica.apply({"Interface": {"i1": {"modify": {"ofport": ["set", []]}}}})
    assert scalar(replica.get("Interface", "i1")["ofport"]) is None
    replica.apply({"Bridge": {"b1": {"initial": {"name": "br-int", "ports": ["uuid", "p1"]}}}})
    replica.apply({"Bridge": {"b1": {"modify": {"ports": ["set", [["uuid", "p2"]]]}}}})
    assert replica.get("Bridge", "b1")["ports"] == ["p1", "p2"]
    replica.apply({"Interface": {"i1": {"delete": None}}})
    assert replica.get("Interface", "i1") is None


def test_messages_are_split_wherever_the_stream_breaks():
    messages = [{"id": 1, "result": {"Bridge": {"u": {"new": {"name": "br-{int}\\\""}}}}},
                {"method": "echo", "params": [], "id": "echo"},
                {"method": "update", "params": [None, {"Port": {}}], "id": None}]
    data = "".join(json.dumps(m) for m in messages).encode()
    for cut in range(1, len(data)):
        stream = MessageStream()
        assert stream.feed(data[:cut]) + stream.feed(data[cut:]) == messages
    stream = MessageStream()
    assert [m for byte in data for m in stream.feed(bytes([byte]))] == messages
