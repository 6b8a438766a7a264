"""The README's flow walk-through is what the demo really installs (ofports and cookies,
which change from run to run, aside)."""
import re
import subprocess
import sys

from tests.harness import ROOT

HEADER = re.compile(r"^(\S+)\$ ovs-ofctl -O OpenFlow13 dump-flows (\S+) --no-stats$")


def dumps(text: str) -> dict[str, set[str]]:
    """{hypervisor/bridge: its flow lines} for each dump-flows block in the text."""
    found: dict[str, set[str]] = {}
    bridge = None
    for line in text.splitlines():
        header = HEADER.match(line)
        if header:
            bridge = f"{header.group(1)}/{header.group(2)}"
            found[bridge] = set()
        elif bridge and line.startswith(" cookie="):
            found[bridge].add(_normalized(line))
        else:
            bridge = None
    return found


def _normalized(line: str) -> str:
    line = re.sub(r"cookie=0x[0-9a-f]+", "cookie=C", line.strip())
    return re.sub(r"(in_port=|output:)\d+", r"\1P", line)


def test_the_readme_dumps_are_the_demos():
    demo = subprocess.run([sys.executable, "mininet/demo.py", "--no-cli"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    real, documented = dumps(demo.stdout), dumps((ROOT / "README.md").read_text())
    assert set(documented) == {"n0/br-int", "n0/br-tun"}
    for bridge, flows in documented.items():
        assert flows == real[bridge], bridge
