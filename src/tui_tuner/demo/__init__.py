"""`tui-tuner demo` in the terminal: the demo screen and its driver (`app`, `driver`, `screen`), and the
headless output (`headless`)."""
