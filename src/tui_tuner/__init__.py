"""tui-tuner: the Textual app and the `tui-tuner` command, both on top of the headless `core`."""

from core import __version__

__all__ = ["__version__"]
