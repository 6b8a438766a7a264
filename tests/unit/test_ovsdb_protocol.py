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


def test_the_replica_follows_inserts_modifies_and_deletes():
    replica = Replica()
    replica.apply({"Interface": {"i1": {"new": {"name": "vnet0", "ofport": ["set", []]}}}})
    assert scalar(replica.get("Interface", "i1")["ofport"]) is None
    replica.apply({"Interface": {"i1": {"old": {"ofport": ["set", []]},
                                        "new": {"name": "vnet0", "ofport": 5}}}})
    assert replica.get("Interface", "i1") == {"name": "vnet0", "ofport": 5}
    replica.apply({"Interface": {"i1": {"old": {"name": "vnet0", "ofport": 5}}}})
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
