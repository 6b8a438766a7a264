"""The DHCP codec on its own (pure): what reads as a request, what a reply packs into,
checked against Ryu's DHCP parser (tests/unit/dhcp_client.py)."""
import pytest

from ryu_app.dhcp import options as opt
from ryu_app.dhcp import wire
from tests.unit.dhcp_client import read_reply, request_frame

MAC = "fa:16:3e:00:00:01"


def test_a_client_request_reads_back_with_its_fields_and_options():
    frame = request_frame(MAC, 3, xid=0xABCD, flags=0x8000, opt_50=bytes([10, 0, 0, 5]),
                          opt_55=bytes([1, 3, 6, 121]))
    request = wire.parse(frame)
    assert (request.chaddr, request.xid, request.flags, request.message_type) == (
        MAC, 0xABCD, 0x8000, 3)
    assert request.requested_address == "10.0.0.5" and request.server_id is None
    assert request.options[55] == bytes([1, 3, 6, 121])


def test_what_is_not_a_dhcp_request_reads_as_none():
    frame = request_frame(MAC, 1)
    assert wire.parse(frame[:60]) is None                       # truncated
    assert wire.parse(b"\xff" * 14) is None                     # not IPv4
    server_to_client = frame[:34] + frame[36:38] + frame[34:36] + frame[38:]
    assert wire.parse(server_to_client) is None                 # 67 -> 68
    no_cookie = frame[:42 + 236] + b"\0\0\0\0" + frame[42 + 240:]
    assert wire.parse(no_cookie) is None
    fragment = frame[:20] + b"\x20\x00" + frame[22:]            # more fragments
    assert wire.parse(fragment) is None


def test_a_reply_packs_checksummed_padded_and_splits_long_options():
    long_value = bytes(range(256)) + bytes(44)                  # 300 bytes: two pieces
    reply = wire.Reply(message_type=5, xid=7, flags=0, ciaddr="0.0.0.0", yiaddr="10.0.0.5",
                       siaddr="10.0.0.9", giaddr="0.0.0.0",
                       raw_chaddr=bytes.fromhex(MAC.replace(":", "")),
                       options=((opt.SERVER_ID, opt.ip("10.0.0.2")), (224, long_value)),
                       eth_src="fa:16:3e:00:00:02", eth_dst=MAC, ip_src="10.0.0.2",
                       ip_dst="10.0.0.5")
    frame = wire.pack(reply)
    read = read_reply(frame)
    assert (read["type"], read["xid"], read["yiaddr"], read["siaddr"], read["chaddr"]) == (
        5, 7, "10.0.0.5", "10.0.0.9", MAC)
    assert read["options"][224] == long_value                   # RFC 3396: rejoined
    assert read["ip_checksum_ok"] and read["udp_checksum_ok"]
    assert len(frame) - 42 >= wire.MIN_BOOTP


def test_option_values_encode_as_the_rfcs_say():
    assert opt.encode("classless-static-route", "10.0.0.0/8,10.0.0.1,0.0.0.0/0,10.0.0.1") == (
        121, bytes([8, 10, 10, 0, 0, 1, 0, 10, 0, 0, 1]))
    assert opt.encode("domain-search", "example.org,lab") == (
        119, b"\x07example\x03org\x00\x03lab\x00")
    assert opt.encode("mtu", "1400") == (26, b"\x05\x78")
    assert opt.encode("200", "10.1.2.3,10.1.2.4") == (200, bytes([10, 1, 2, 3, 10, 1, 2, 4]))
    assert opt.encode("201", "some text") == (201, b"some text")


def test_an_option_of_no_known_type_encodes_as_dnsmasq_writes_it():
    """Hex octets as bytes, a decimal as a 1, 2 or 4-byte integer (before, both went out
    as their ASCII text: a boolean option 19 of "1" was the byte 0x31)."""
    assert opt.encode("19", "1") == (19, b"\x01")
    assert opt.encode("23", "64") == (23, b"\x40")
    assert opt.encode("202", "1500") == (202, b"\x05\xdc")
    assert opt.encode("203", "70000") == (203, b"\x00\x01\x11\x70")
    assert opt.encode("43", "01:02:0a") == (43, b"\x01\x02\x0a")
    assert opt.encode("204", "01:02:xyz") == (204, b"01:02:xyz")   # not hex: text
    with pytest.raises(ValueError):
        opt.encode("204", "4294967296")                             # over 4 bytes
