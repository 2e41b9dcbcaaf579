"""A VMC marionette made with python-osc (an independent OSC implementation): listens on a UDP
port for SECONDS and prints, as JSON, what came: datagrams, bundles, messages by address, the
type tags seen for each address, bone and blend shape names, the times of /VMC/Ext/Blend/Apply
(one per frame) and datagrams python-osc could not parse.

    python listen.py PORT SECONDS
"""
import json
import socket
import sys
import time

from pythonosc.osc_packet import OscPacket, ParseError

port, seconds = int(sys.argv[1]), float(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", port))
sock.settimeout(0.1)
print(json.dumps({"listening": port}), flush=True)

report = {"datagrams": 0, "bundles": 0, "unparsed": 0, "max_datagram": 0,
          "messages": {}, "tags": {}, "bones": [], "blends": [], "applies": [],
          "first_bone": None, "last_bones": {}}
bones, blends = set(), set()


def type_tags(dgram):
    """The OSC type tag string of a message datagram: after the padded address."""
    end = dgram.index(b"\0")
    start = (end + 4) & ~3
    return dgram[start:dgram.index(b"\0", start)].decode()


end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        data, _ = sock.recvfrom(65536)
    except socket.timeout:
        continue
    report["datagrams"] += 1
    report["max_datagram"] = max(report["max_datagram"], len(data))
    if data.startswith(b"#bundle"):
        report["bundles"] += 1
    try:
        packet = OscPacket(data)
    except ParseError:
        report["unparsed"] += 1
        continue
    for timed in packet.messages:
        m = timed.message
        report["messages"][m.address] = report["messages"].get(m.address, 0) + 1
        tags = report["tags"].setdefault(m.address, [])
        t = type_tags(m.dgram)
        if t not in tags:
            tags.append(t)
        if m.address == "/VMC/Ext/Bone/Pos":
            bones.add(m.params[0])
            report["last_bones"][m.params[0]] = m.params[1:]
            if m.params[0] == "LeftUpperArm" and report["first_bone"] is None:
                report["first_bone"] = m.params
        elif m.address == "/VMC/Ext/Blend/Val":
            blends.add(m.params[0])
        elif m.address == "/VMC/Ext/Blend/Apply":
            report["applies"].append(time.monotonic())
report["bones"] = sorted(bones)
report["blends"] = sorted(blends)
print(json.dumps(report), flush=True)
