"""CLI subcommands, one module per area. Each module defines `register(subparsers, parent)`.

Command modules are imported for every `tui-tuner` call (argparse needs all subparsers), so they
must import nothing heavy at module level: torch, transformers, textual and friends are imported
inside the handler that needs them.
"""
