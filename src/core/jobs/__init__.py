"""The live job monitor's logic: job list (HF Jobs + local), log following, diagnosis, progress, Trackio.

Headless: the TUI screen (`tui_tuner.screens.jobs.screen`) and the CLI (`tui-tuner jobs …`) both sit on it.
"""
