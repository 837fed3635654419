"""The jobs area's screen, panes, widgets and styles."""
