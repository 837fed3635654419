"""The launch area's screen, panes, widgets and styles."""
