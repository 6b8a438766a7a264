"""The README's flow walk-through is what the demo really installs (ofports and cookies,
which change from run to run, aside), and its traces are what the demo's trace prints."""
import re
import subprocess
import sys

from tests.harness import ROOT

HEADER = re.compile(r"^(\S+)\$ ovs-ofctl -O OpenFlow13 dump-flows (\S+) --no-stats$")
TRACE = "$ .venv/bin/python -m ryu_app.cli trace "


def traces(text: str) -> dict[str, list[str]]:
    """{trace command: the lines it printed} for each trace in the text (until a blank
    line or the end of a code block)."""
    found: dict[str, list[str]] = {}
    command = None
    for line in text.splitlines():
        if line.startswith(TRACE):
            command = line
            found[command] = []
        elif command and line.strip() and not line.startswith("```"):
            found[command].append(line)
        else:
            command = None
    return found


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
    documented_traces = traces((ROOT / "README.md").read_text())
    assert len(documented_traces) == 2 and documented_traces == traces(demo.stdout)
