"""One module per area; each defines the screen class named in `tui_tuner.areas`."""
