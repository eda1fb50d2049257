#!/usr/bin/python3
"""Shows a picture at its own size, top-left in an undecorated maximised
window titled by the first argument: a known pattern on screen for the
capture tests (with GDK_BACKEND=wayland, a native Wayland window). When the
file is replaced, the window shows the new picture.

    picture.py TITLE PICTURE.png
"""
import os
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402


def main():
    title, path = sys.argv[1], sys.argv[2]
    # An application of its own per title, so the user can Alt+Tab to it.
    GLib.set_prgname(title.lower().replace(" ", "-"))
    window = Gtk.Window(title=title)
    window.set_decorated(False)
    image = Gtk.Image.new_from_file(path)
    image.set_halign(Gtk.Align.START)
    image.set_valign(Gtk.Align.START)
    window.add(image)
    shown = [os.stat(path).st_mtime_ns]

    def reload():
        try:
            changed = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return True
        if changed != shown[0]:
            shown[0] = changed
            image.set_from_file(path)
        return True

    GLib.timeout_add(200, reload)
    window.connect("destroy", Gtk.main_quit)
    window.maximize()
    window.show_all()
    Gtk.main()


if __name__ == "__main__":
    main()
