"""A small client for the controller's diagnostics, as ``ovn-trace`` and ``ovs-ofctl`` are
for OVN and Open vSwitch:

    python -m ryu_app.cli trace PORT [DST] [--proto icmp|tcp|udp|sctp|arp|dhcp] [--dport N]
    python -m ryu_app.cli flows HOST BRIDGE

PORT is a port's id or name, DST an IPv4 address, HOST a hypervisor, BRIDGE ``int``,
``tun``, ``phys`` or a bridge's name.  ``--api`` (or ``NEUTRON_RYU_API``) says where the
controller's REST API is; the default is the one ``make run`` serves.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_API = "http://127.0.0.1:9696"


def get(api: str, path: str, params: dict[str, str]) -> dict:
    query = urllib.parse.urlencode({key: value for key, value in params.items() if value})
    try:
        with urllib.request.urlopen(f"{api}/v2.0/{path}?{query}", timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(body)["NeutronError"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body.strip() or error.reason   # not the API's answer (the HTTP server's)
        raise SystemExit(f"{error.code}: {message}") from None
    except urllib.error.URLError as error:
        raise SystemExit(f"cannot reach the controller at {api}: {error.reason}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ryu_app.cli", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--api", default=os.environ.get("NEUTRON_RYU_API", DEFAULT_API))
    commands = parser.add_subparsers(dest="command", required=True)
    trace = commands.add_parser("trace", help="the path of a packet from a VM")
    trace.add_argument("port")
    trace.add_argument("dst", nargs="?", help="an IPv4 address (dhcp: 255.255.255.255)")
    trace.add_argument("--proto", default="icmp",
                       help="icmp (the default), tcp, ...: an unknown one's error lists them")
    trace.add_argument("--dport")
    flows = commands.add_parser("flows", help="a bridge's desired flows, with provenance")
    flows.add_argument("host")
    flows.add_argument("bridge")
    args = parser.parse_args(argv)
    if args.command == "trace":
        answer = get(args.api, "trace", {"port": args.port, "dst": args.dst,
                                         "proto": args.proto, "dport": args.dport})
        print(answer["trace"]["text"])
        return
    listed = get(args.api, "flows", {"host": args.host, "bridge": args.bridge})["flows"]
    for entry in listed:
        print(f"{entry['flow']}\n    {entry['table_name']} / {entry['band']}: "
              f"{entry['builder']}, {entry['group']}")


if __name__ == "__main__":
    main(sys.argv[1:])
