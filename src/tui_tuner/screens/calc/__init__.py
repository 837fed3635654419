"""The calc area's screen, panes, widgets and styles."""
