"""The eval area's screen, panes, widgets and styles."""
