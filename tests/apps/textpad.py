#!/usr/bin/python3
"""A plain GTK text editor for the rewrite tests: one window titled by the
first argument, one multi-line text view, and the whole text written to the
file named by the second argument (atomically) each time it changes, so a
test can read exactly what the application holds.

    textpad.py TITLE OUTPUT [INITIAL_TEXT]

With TEXTPAD_MAXIMIZED=1 the window is maximised (where the window manager,
not the app, places windows, as on Wayland).
"""
import os
import sys

import gi

gi.require_version("Gtk", "3.0")
from gi.repository import Gtk  # noqa: E402


def main():
    title, output = sys.argv[1], sys.argv[2]
    initial = sys.argv[3] if len(sys.argv) > 3 else ""

    def save(buffer):
        text = buffer.get_text(buffer.get_start_iter(), buffer.get_end_iter(), True)
        temporary = output + ".tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, output)

    window = Gtk.Window(title=title)
    window.set_default_size(700, 400)
    window.move(40, 40)
    view = Gtk.TextView()
    view.set_wrap_mode(Gtk.WrapMode.WORD_CHAR)
    buffer = view.get_buffer()
    buffer.set_text(initial)
    buffer.connect("changed", save)
    save(buffer)
    scroll = Gtk.ScrolledWindow()
    scroll.add(view)
    window.add(scroll)
    window.connect("destroy", Gtk.main_quit)
    if os.environ.get("TEXTPAD_MAXIMIZED") == "1":
        window.maximize()
    window.show_all()
    view.grab_focus()
    Gtk.main()


if __name__ == "__main__":
    main()
