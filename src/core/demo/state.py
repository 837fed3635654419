"""The demo's state file: which steps finished, with what inputs, and what they left on disk.

A rerun skips a step only when it finished with the same settings and every output it recorded still
exists; once a step runs again, every later step runs again too (their inputs changed). Outputs inside
the output folder are stored relative to it, so a moved folder still resumes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core.redact import redact

STATE_FILE = "demo-state.json"


class DemoState:
    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.path = output_dir / STATE_FILE
        self.data: dict[str, Any] = {"version": 1, "steps": {}}

    def load(self) -> bool:
        """Read the file; False when there is none (or it is unreadable: then everything runs again)."""
        from core import safe_json

        try:  # damaged, nested or a FIFO: start over (everything runs again), never a crash or a wait
            data = safe_json.load_file(self.path)
        except ValueError:
            return False
        if isinstance(data, dict) and isinstance(data.get("steps"), dict):
            self.data = data
            return True
        return False

    def save(self) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(redact(json.dumps(self.data, indent=2, sort_keys=True, default=str)), encoding="utf-8")
        tmp.replace(self.path)

    def _rel(self, path: str) -> str:
        try:
            return "./" + str(Path(path).relative_to(self.output_dir))
        except ValueError:
            return str(path)

    def _abs(self, path: str) -> str:
        return str(self.output_dir / path[2:]) if path.startswith("./") else path

    def finished(self, step: str, fingerprint: str) -> dict[str, Any] | None:
        """The step's record when it finished with this fingerprint and its outputs are all there."""
        entry = self.data["steps"].get(step)
        if not isinstance(entry, dict) or entry.get("status") != "done" or entry.get("fingerprint") != fingerprint:
            return None
        outputs = [self._abs(p) for p in entry.get("outputs", [])]
        if not all(Path(p).exists() for p in outputs):
            return None
        details = {k: self._abs(v) if isinstance(v, str) and v.startswith("./") else v
                   for k, v in (entry.get("details") or {}).items()}
        return {**entry, "outputs": outputs, "details": details}

    def mark_done(self, step: str, fingerprint: str, *, summary: str, outputs: list[str], details: dict[str, Any],
                  seconds: float) -> None:
        rel_details = {k: self._rel(v) if isinstance(v, str) and v.startswith(str(self.output_dir)) else v
                       for k, v in details.items()}
        self.data["steps"][step] = {"status": "done", "fingerprint": fingerprint, "summary": summary,
                                    "outputs": [self._rel(p) for p in outputs], "details": rel_details,
                                    "seconds": round(seconds, 2), "finished_at": time.time()}
        self.save()

    def mark(self, step: str, status: str, error: str = "") -> None:
        entry = {"status": status, "finished_at": time.time()}
        if error:
            entry["error"] = error
        self.data["steps"][step] = entry
        self.save()

    def seconds(self) -> dict[str, float]:
        return {step: float(entry.get("seconds") or 0.0) for step, entry in self.data["steps"].items()
                if isinstance(entry, dict) and entry.get("status") == "done"}
