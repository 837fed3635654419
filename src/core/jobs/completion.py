"""Did a failed job actually finish training? (the guide's "Job shows ERROR but adapter exists?")

HF Jobs can time out (or fail on the final `push_to_hub`) after training has completed. With
`hub_strategy="every_save"` the Trainer pushes each checkpoint as a commit titled "… step N". If the
adapter repo has a commit for step N = the expected number of steps, the adapter is complete and usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.jobs.model import JobRow

_STEP_IN_TITLE = re.compile(r"\bstep[ _-]?(\d+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class CompletionCheck:
    usable: bool
    repo: str | None
    expected_steps: int | None
    last_step: int | None
    commit_title: str | None = None
    reason: str = ""

    @property
    def banner(self) -> str:
        if self.usable:
            return (f"Training finished, push failed — adapter usable: {self.repo} has step {self.last_step} "
                    f"of {self.expected_steps}. Download: {self.download_command}")
        return self.reason

    @property
    def download_command(self) -> str:
        return f"hf download {self.repo} --local-dir ./adapter" if self.repo else ""

    def to_dict(self) -> dict[str, object]:
        return {"usable": self.usable, "repo": self.repo, "expected_steps": self.expected_steps,
                "last_step": self.last_step, "commit_title": self.commit_title, "reason": self.reason,
                "download_command": self.download_command if self.usable else None}


def needs_check(row: JobRow) -> bool:
    """Only failed or timed-out jobs that know their output repo and step count are worth a Hub call."""
    failed = row.stage == "ERROR" or "timeout" in (row.message or "").lower()
    return failed and bool(row.extra.get("output_repo")) and bool(row.expected_steps)


def step_of_title(title: str) -> int | None:
    matches = _STEP_IN_TITLE.findall(title or "")
    return int(matches[-1]) if matches else None


def check_completion(row: JobRow, commit_titles: list[str]) -> CompletionCheck:
    """Decide from the adapter repo's commit titles (newest first, as the Hub lists them)."""
    repo = row.extra.get("output_repo")
    expected = row.expected_steps
    steps = [(s, t) for t in commit_titles if (s := step_of_title(t)) is not None]
    last = max(steps, default=None)
    if expected is None:
        return CompletionCheck(False, repo, None, last[0] if last else None, reason="expected steps unknown")
    if last is None:
        return CompletionCheck(False, repo, expected, None, reason=f"{repo}: no checkpoint commit found")
    if last[0] >= expected:
        return CompletionCheck(True, repo, expected, last[0], last[1])
    return CompletionCheck(False, repo, expected, last[0], last[1],
                           reason=f"{repo}: last checkpoint is step {last[0]} of {expected} — training did not finish")
