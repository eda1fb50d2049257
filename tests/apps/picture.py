#!/usr/bin/python3
"""Shows a picture at its own size, top-left in an undecorated maximised
window titled by the first argument: a known pattern on screen for the
capture tests (with GDK_BACKEND=wayland, a native Wayland window).

    picture.py TITLE PICTURE.png
"""
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402


def main():
    title, path = sys.argv[1], sys.argv[2]
    window = Gtk.Window(title=title)
    window.set_decorated(False)
    image = Gtk.Image.new_from_file(path)
    image.set_halign(Gtk.Align.START)
    image.set_valign(Gtk.Align.START)
    window.add(image)
    window.connect("destroy", Gtk.main_quit)
    window.maximize()
    window.show_all()
    Gtk.main()


if __name__ == "__main__":
    main()
