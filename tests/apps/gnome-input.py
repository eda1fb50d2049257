#!/usr/bin/python3
"""Keys and pointer for the GNOME tests through mutter's own
org.gnome.Mutter.RemoteDesktop D-Bus API (which asks no consent), in one
remote-desktop session kept for the whole test: each line read from standard
input is a list of steps, answered with "ok" once they are done.

Steps (the syntax of ../shared/wayland/input.py):
  key:<keysym hex>[+<keysym hex>...]   a chord, e.g. key:ffe3+ffe1+20
  type:<text>                          one key press per character
  move:<x>,<y>  click:<x>,<y>  drag:<x1>,<y1>,<x2>,<y2>  sleep:<seconds>
  tap                                  a click where the pointer is

One session matters: mutter takes the keyboard away from Wayland clients
when any virtual keyboard goes, so a session per step would leave windows
without the keyboard focus (and without the ACTIVE state on the
accessibility bus that comes with it)."""
import shlex
import sys
import time

import dbus

W, H = 1920, 1080
bus = dbus.SessionBus()
rd = bus.get_object("org.gnome.Mutter.RemoteDesktop", "/org/gnome/Mutter/RemoteDesktop")
path = rd.CreateSession(dbus_interface="org.gnome.Mutter.RemoteDesktop")
s = dbus.Interface(
    bus.get_object("org.gnome.Mutter.RemoteDesktop", path), "org.gnome.Mutter.RemoteDesktop.Session"
)
s.Start()
time.sleep(1.5)
pos = [0.0, float(H - 1)]


def press(k, down):
    s.NotifyKeyboardKeysym(dbus.UInt32(k), down)
    time.sleep(0.04)


def park():
    # Bottom-left: top-left is the Activities hot corner.
    s.NotifyPointerMotionRelative(-5000.0, 5000.0)
    time.sleep(0.1)
    pos[0], pos[1] = 0.0, float(H - 1)


def move(x, y):
    s.NotifyPointerMotionRelative(x - pos[0], y - pos[1])
    pos[0], pos[1] = x, y
    time.sleep(0.05)


def button(down):
    s.NotifyPointerButton(0x110, down)
    time.sleep(0.05)


def step(text):
    cmd, _, arg = text.partition(":")
    if cmd == "key":
        keys = [int(k, 16) for k in arg.split("+")]
        for k in keys:
            press(k, True)
        for k in reversed(keys):
            press(k, False)
    elif cmd == "type":
        for ch in arg:
            k = ord(ch) if ord(ch) < 0x100 else 0x01000000 + ord(ch)
            press(k, True)
            press(k, False)
    elif cmd in ("move", "click"):
        x, y = (float(v) for v in arg.split(","))
        park()
        move(x, y)
        if cmd == "click":
            button(True)
            button(False)
            time.sleep(0.15)
    elif cmd == "drag":
        x1, y1, x2, y2 = (float(v) for v in arg.split(","))
        park()
        move(x1, y1)
        button(True)
        time.sleep(0.05)
        for i in range(1, 11):
            move(x1 + (x2 - x1) * i / 10, y1 + (y2 - y1) * i / 10)
        time.sleep(0.1)
        button(False)
        time.sleep(0.15)
    elif cmd == "tap":
        button(True)
        button(False)
    elif cmd == "sleep":
        time.sleep(float(arg))
    else:
        raise SystemExit("unknown step: " + text)


park()
print("ready", flush=True)
for line in sys.stdin:
    for text in shlex.split(line):
        step(text)
    time.sleep(0.2)
    print("ok", flush=True)
s.Stop()
