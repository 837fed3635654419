"""Progress and ETA of a training job from what its log and metrics say.

Expected steps come from the launch (the guide's formula: examples ÷ effective batch × epochs); the
latest step from the trainer's progress bar (`219/486 [12:34<15:20, 3.45s/it]`), a `step N/M` line, the
Trainer's log dicts (`'epoch': 0.5` × steps per epoch) or Trackio's `train/global_step`. The ETA is the
remaining steps over the step rate measured on the log's own timestamps, falling back to the rate the
progress bar prints when the timestamps carry no information (a replayed local log).
"""

from __future__ import annotations

import ast
import json
import re
from collections import deque
from dataclasses import dataclass, field

from core.jobs.model import format_duration

_TQDM = re.compile(r"^(?P<label>[^|]*?)\s*\d{1,3}%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*\[(?P<meta>[^\]]*)\]")
_RATE = re.compile(r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>s/it|it/s)")
_STEP = re.compile(r"\b[Ss]tep\s*[:=]?\s*(\d+)\s*(?:/|of)\s*(\d+)")
_DICT_KEYS = re.compile(r"""['"](?:loss|eval_loss|train_runtime|learning_rate|grad_norm)['"]\s*:""")
_KEY_VALUE = re.compile(r"(?<![\w/.])(loss|eval_loss|learning_rate|lr|grad_norm)\s*[=:]\s*"
                        r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w.])", re.IGNORECASE)

METRIC_KEYS = {"loss": "train/loss", "learning_rate": "train/learning_rate", "eval_loss": "eval/loss",
               "grad_norm": "train/grad_norm"}
TEXT_KEYS = {**METRIC_KEYS, "lr": "train/learning_rate"}
"""`loss=1.23` / `loss: 1.23` in plain text lines (custom loops, Unsloth, tqdm postfixes)."""


@dataclass
class MetricPoint:
    step: float
    name: str
    value: float


@dataclass
class ProgressTracker:
    expected_steps: int | None = None
    epochs: float | None = None
    step: int | None = None
    total: int | None = None
    bar_rate_s_per_step: float | None = None
    points: list[MetricPoint] = field(default_factory=list)
    """Loss / learning rate / eval loss parsed from the Trainer's log dicts (curves without Trackio)."""
    _obs: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=200))

    @property
    def target(self) -> int | None:
        return self.expected_steps or self.total

    def observe(self, step: int, t: float | None) -> None:
        if self.step is None or step >= self.step:
            self.step = step
        if t is not None and (not self._obs or t >= self._obs[-1][0]):
            self._obs.append((t, step))

    def feed_line(self, text: str, t: float | None = None) -> bool:
        """Update from one log line; True when it carried progress or a metric.

        A line redrawn with carriage returns (tqdm, and the Trainer's log dict printed over the bar) is
        read segment by segment, as the terminal drew it.
        """
        if "\r" in text:
            hits = [self._feed_one(segment, t) for segment in text.split("\r") if segment.strip()]
            return any(hits)
        return self._feed_one(text, t)

    def _feed_one(self, text: str, t: float | None = None) -> bool:
        if "|" in text and "%" in text:
            m = _TQDM.search(text)
            if m and not m.group("label").strip().rstrip(":"):
                n, total = int(m.group("n")), int(m.group("total"))
                if self.expected_steps and total != self.expected_steps and total < self.expected_steps // 2:
                    return False  # an evaluation or data bar, not the training loop
                self.total = total
                if r := _RATE.search(m.group("meta")):
                    value = float(r.group("value"))
                    self.bar_rate_s_per_step = value if r.group("unit") == "s/it" else (1.0 / value if value else None)
                self.observe(n, t)
                self._feed_key_values(m.group("meta"))  # a tqdm postfix: `[…, loss=1.23]`
                return True
        stripped = text.strip()
        if stripped.startswith("{") and stripped.endswith("}") and _DICT_KEYS.search(stripped):
            return self._feed_logdict(stripped, t)
        if "tep" in text and (m := _STEP.search(text)):
            self.total = self.total or int(m.group(2))
            self.observe(int(m.group(1)), t)
            self._feed_key_values(text)
            return True
        return ("oss" in text or "lr" in text or "rate" in text or "norm" in text) and self._feed_key_values(text)

    def _feed_key_values(self, text: str) -> bool:
        """Metrics written as text (`loss=1.23 lr=2e-4`, `loss: 1.23`), at the latest step seen."""
        found = _KEY_VALUE.findall(text)
        if not found:
            return False
        x = float(self.step) if self.step is not None else float(len(self.points))
        for key, raw in found:
            self.points.append(MetricPoint(x, TEXT_KEYS[key.lower()], float(raw)))
        return True

    def _feed_logdict(self, text: str, t: float | None) -> bool:
        """The Trainer's `{'loss': …}` and JSON-style `{"loss": …}` log dicts, keys in any order."""
        try:
            values = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            try:
                values = json.loads(text)
            except (ValueError, RecursionError):
                return False
        if not isinstance(values, dict):
            return False
        epoch = _num(values.get("epoch"))
        logged_step = _num(values.get("step", values.get("global_step")))
        step: float | None = None
        if logged_step is not None:
            step = logged_step
            self.observe(int(logged_step), t)
        elif self.total is not None and self.step is not None:
            step = self.step  # the training bar printed just before this dict is exact
        elif epoch is not None and self.expected_steps and self.epochs:
            step = round(epoch * self.expected_steps / self.epochs)
            self.observe(int(step), t)
        x = step if step is not None else len(self.points)
        for key, name in METRIC_KEYS.items():
            value = _num(values.get(key))
            if value is not None:
                self.points.append(MetricPoint(float(x), name, value))
        return True

    def fraction(self) -> float | None:
        target = self.target
        if not target or self.step is None:
            return None
        return max(0.0, min(1.0, self.step / target))

    def seconds_per_step(self) -> float | None:
        """Measured on timestamps over the recent window; the progress bar's own rate otherwise."""
        if len(self._obs) >= 2:
            (t0, s0), (t1, s1) = self._obs[0], self._obs[-1]
            if t1 > t0 and s1 > s0:
                return (t1 - t0) / (s1 - s0)
        return self.bar_rate_s_per_step

    def eta_seconds(self) -> float | None:
        target, rate = self.target, self.seconds_per_step()
        if not target or self.step is None or rate is None:
            return None
        return max(0.0, (target - self.step) * rate)

    def summary(self, *, with_eta: bool = True) -> str:
        target = self.target
        if self.step is None:
            if target:
                return f"step -/{target}"
            # with_eta is off once the job has ended: "yet" would promise progress that cannot come.
            return "no progress seen yet" if with_eta else "no step counts in its log"
        text = f"step {self.step}/{target}" if target else f"step {self.step}"
        if (frac := self.fraction()) is not None:
            text += f" ({frac:.0%})"
        if with_eta and (eta := self.eta_seconds()) is not None and self.step < (target or 0):
            text += f" · ETA {format_duration(eta)}"
        return text


def _num(value: object) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
