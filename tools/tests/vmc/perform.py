"""A VMC performer made with python-osc: sends one pose, in Unity's space as the protocol
says, at 30 frames a second for SECONDS, as loose messages (SimpleUDPClient) or, with
--bundle, one bundle per frame (OscBundleBuilder).

    python perform.py PORT SECONDS [--bundle]

The pose: the root 1 m to Unity's +X; the hips at (0, 0.9, 0.05); the left upper arm lowered
(Unity Euler(0, 0, 90): the arm, along -X, points down); the head turned 30 degrees to the
avatar's left (Unity Euler(0, -30, 0)); Joy 1, A 0.5 and the custom shape JawOpen 0.3.
"""
import math
import sys
import time

from pythonosc import osc_bundle_builder, osc_message_builder, udp_client

port, seconds = int(sys.argv[1]), float(sys.argv[2])
bundle = "--bundle" in sys.argv[3:]
client = udp_client.SimpleUDPClient("127.0.0.1", port)

s45 = math.sin(math.radians(45))
s15 = math.sin(math.radians(-15))
c15 = math.cos(math.radians(-15))
frame = [
    ("/VMC/Ext/OK", [1]),
    ("/VMC/Ext/Root/Pos", ["root", 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
    ("/VMC/Ext/Bone/Pos", ["Hips", 0.0, 0.9, 0.05, 0.0, 0.0, 0.0, 1.0]),
    ("/VMC/Ext/Bone/Pos", ["LeftUpperArm", 0.1, 0.3, 0.0, 0.0, 0.0, s45, s45]),
    ("/VMC/Ext/Bone/Pos", ["Head", 0.0, 0.1, 0.0, 0.0, s15, 0.0, c15]),
    ("/VMC/Ext/Blend/Val", ["Joy", 1.0]),
    ("/VMC/Ext/Blend/Val", ["A", 0.5]),
    ("/VMC/Ext/Blend/Val", ["JawOpen", 0.3]),
    ("/VMC/Ext/Blend/Apply", []),
]

start = time.monotonic()
k = 0
while time.monotonic() - start < seconds:
    t = [("/VMC/Ext/T", [float(time.monotonic() - start)])]
    if bundle:
        builder = osc_bundle_builder.OscBundleBuilder(osc_bundle_builder.IMMEDIATELY)
        for address, args in t + frame:
            m = osc_message_builder.OscMessageBuilder(address=address)
            for a in args:
                m.add_arg(a)
            builder.add_content(m.build())
        client.send(builder.build())
    else:
        for address, args in t + frame:
            client.send_message(address, args)
    k += 1
    time.sleep(max(0.0, start + k / 30 - time.monotonic()))
