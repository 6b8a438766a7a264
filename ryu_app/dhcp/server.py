"""The server's decision for one client message (RFC 2131 §4.3), from the port's lease.

The server keeps no state: what a port may have is its lease, from the tenant model.
DISCOVER gets an OFFER of it; REQUEST an ACK if it asks for that address (option 50, or
ciaddr when renewing) and a NAK otherwise, nothing if it chose another server; INFORM an
ACK without lease times; RELEASE and DECLINE are noted and not answered.
"""
from __future__ import annotations

from dataclasses import dataclass

from ryu_app.dhcp import options as opt
from ryu_app.dhcp.wire import BROADCAST_FLAG, BROADCAST_IP, BROADCAST_MAC, Reply, Request

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
TYPE_NAMES = {DISCOVER: "DISCOVER", OFFER: "OFFER", REQUEST: "REQUEST", DECLINE: "DECLINE",
              ACK: "ACK", NAK: "NAK", RELEASE: "RELEASE", INFORM: "INFORM"}
NO_ADDRESS = "0.0.0.0"
LEASE_TIME_OPTIONS = frozenset({opt.LEASE_TIME, opt.RENEWAL_TIME, opt.REBINDING_TIME})


@dataclass(frozen=True)
class Lease:
    """What one port is given: its address, the server that gives it, the options."""

    address: str
    server_ip: str                # the network:dhcp port's address in the subnet
    server_mac: str               # ... and its MAC
    lease_time: int               # seconds (0xFFFFFFFF: infinite)
    options: tuple[tuple[int, bytes], ...]   # all but 53, 54 and 51, in sending order
    siaddr: str = NO_ADDRESS      # the "next server" of PXE, if the port sets one
    # options for a client with (True) or without (False) a tag: (tag, wanted, code, value)
    tagged: tuple[tuple[str, bool, int, bytes], ...] = ()

    def options_for(self, tags: set[str]) -> tuple[tuple[int, bytes], ...]:
        """The options a client setting ``tags`` gets: a tagged option that applies
        takes the place of an untagged one of its code."""
        options = dict(self.options)
        for tag, wanted, code, value in self.tagged:
            if (tag in tags) == wanted:
                options[code] = value
        return tuple(options.items())


@dataclass(frozen=True)
class Decision:
    """What the server does with a message: ``outcome`` for the log, ``reply`` to send."""

    outcome: str
    reply: Reply | None = None


def answer(request: Request, lease: Lease) -> Decision:
    kind = request.message_type
    name = TYPE_NAMES.get(kind, str(kind))
    if request.ip_dst not in (BROADCAST_IP, lease.server_ip):
        return Decision(f"{name} sent to {request.ip_dst}, another server: not answered")
    if request.giaddr != NO_ADDRESS:
        return Decision(f"{name} relayed by {request.giaddr}: relays are not served")
    if kind == DISCOVER:
        return Decision("OFFER", _reply(request, lease, OFFER))
    if kind == REQUEST:
        if request.server_id not in (None, lease.server_ip):
            return Decision("REQUEST for another server: not answered")
        asked = request.requested_address or (
            request.ciaddr if request.ciaddr != NO_ADDRESS else None)
        if asked == lease.address:
            return Decision("ACK", _reply(request, lease, ACK))
        return Decision(f"NAK: asked for {asked}, the port has {lease.address}",
                        _nak(request, lease))
    if kind == INFORM:
        if request.ciaddr == NO_ADDRESS:   # RFC 2131 4.3.5: the answer goes to ciaddr
            return Decision("INFORM without ciaddr: not answered")
        return Decision("ACK (INFORM)", _reply(request, lease, ACK, inform=True))
    if kind == DECLINE:
        return Decision(f"DECLINE: the client says {lease.address} is in use by another host")
    if kind == RELEASE:
        return Decision("RELEASE")
    return Decision(f"{name}: not a client message, not answered")


def _reply(request: Request, lease: Lease, kind: int, inform: bool = False) -> Reply:
    options = [(opt.SERVER_ID, opt.ip(lease.server_ip))]
    if not inform:
        options.append((opt.LEASE_TIME, opt.u32(lease.lease_time)))
    options += [(code, value) for code, value in lease.options_for(
                opt.client_tags(request.options)) if not (inform and code in LEASE_TIME_OPTIONS)]
    yiaddr = NO_ADDRESS if inform else lease.address
    return _addressed(request, lease, kind, yiaddr, tuple(options), lease.siaddr)


def _nak(request: Request, lease: Lease) -> Reply:
    return _addressed(request, lease, NAK, NO_ADDRESS,
                      ((opt.SERVER_ID, opt.ip(lease.server_ip)),), NO_ADDRESS, broadcast=True)


def _addressed(request: Request, lease: Lease, kind: int, yiaddr: str,
               options: tuple, siaddr: str, broadcast: bool = False) -> Reply:
    """RFC 2131 §4.1: a NAK, or a reply to a client that asked for broadcast, is
    broadcast; a client with an address (renewing, INFORM) gets it there; the rest
    goes to the offered address at the client's MAC.  An OFFER, a NAK and the answer to
    a client that asks for an address (option 50: selecting, rebooting) carry no
    ciaddr (Table 3; dnsmasq clears a stale one)."""
    renewing = kind not in (OFFER, NAK) and request.requested_address is None
    ciaddr = request.ciaddr if renewing else NO_ADDRESS
    if broadcast or (request.flags & BROADCAST_FLAG and ciaddr == NO_ADDRESS):
        eth_dst, ip_dst = BROADCAST_MAC, BROADCAST_IP
    else:
        eth_dst, ip_dst = request.chaddr, ciaddr if ciaddr != NO_ADDRESS else yiaddr
    return Reply(message_type=kind, xid=request.xid, flags=request.flags, ciaddr=ciaddr,
                 yiaddr=yiaddr, siaddr=siaddr, giaddr=request.giaddr,
                 raw_chaddr=request.raw_chaddr, options=options, eth_src=lease.server_mac,
                 eth_dst=eth_dst, ip_src=lease.server_ip, ip_dst=ip_dst)
