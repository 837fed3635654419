"""The convert area's screen, panes, widgets and styles."""
