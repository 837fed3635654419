"""`python -m core.convert.merge_worker`: one merge in its own process, progress as JSON lines.

Running the merge in a subprocess keeps the TUI light (the model's memory goes back to the OS when it
ends), lets cancel kill it with its process group, and lets its peak RSS be measured by itself.
Protocol on stdout, one JSON object per line: {"kind": "progress", "done", "total", "label"} and a
final {"kind": "result", ..., "peak_rss_bytes"}. A user error prints `error: <line>` and exits 2.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

from core.errors import TunerError


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def peak_rss_bytes() -> int:
    """This process's own peak RSS.

    VmHWM belongs to the address space created at exec; `ru_maxrss` would also count the parent's RSS at
    fork time (Linux carries it across exec), which inflates the figure when a big process starts us.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux (bytes on macOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="merge_worker")
    parser.add_argument("--base", required=True)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--method", choices=["peft", "low-ram"], required=True)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from core.convert import merge

    def progress(done: int, total: int, label: str) -> None:
        _emit({"kind": "progress", "done": done, "total": total, "label": label})

    try:
        if args.method == "peft":
            result = merge.peft_merge(args.base, Path(args.adapter), Path(args.out), progress, device=args.device)
        else:
            result = merge.lowram_merge(Path(args.base), Path(args.adapter), Path(args.out), progress)
    except TunerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr, flush=True)
        return 2
    result["peak_rss_bytes"] = peak_rss_bytes()
    _emit({"kind": "result", **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
