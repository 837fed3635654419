"""Which device every rank of a multi-GPU job trains on, from its log.

The generated script prints one line per rank when it runs distributed (see the launch template):

    tui-tuner: rank=1 local_rank=1 world_size=4 strategy=ddp device=cuda:1 (NVIDIA A100-SXM4-80GB)

Progress stays the global step (rank 0's progress bar counts optimizer steps over all ranks); this says
where each rank is, so a job that should use four GPUs but started one rank is visible at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_MARK = "tui-tuner: rank="
# The device runs to the end of the line or to the next rank's announcement: ranks share one stdout, and an
# older script's unbuffered print() wrote its text and newline separately, so two ranks starting together
# could leave `tui-tuner: rank=1 ... device=cputui-tuner: rank=0 ... device=cpu` on one line.
_RANK = re.compile(r"tui-tuner: rank=(?P<rank>\d+) local_rank=(?P<local>\d+) world_size=(?P<world>\d+) "
                   r"strategy=(?P<strategy>[\w-]+) device=(?P<device>.+?)\s*(?=tui-tuner: |$)")


@dataclass(frozen=True)
class RankInfo:
    rank: int
    local_rank: int
    device: str


@dataclass
class RankTracker:
    world_size: int | None = None
    strategy: str | None = None
    ranks: dict[int, RankInfo] = field(default_factory=dict)

    def feed_line(self, text: str) -> bool:
        """Take one log line; True when it announced a rank (or several, merged on one line)."""
        if _MARK not in text:
            return False
        found = False
        # A progress bar redrawn with \r by another rank may share the line: every segment counts.
        for segment in re.split(r"[\r\n]", text):
            for m in _RANK.finditer(segment):
                rank = int(m.group("rank"))
                self.world_size = int(m.group("world"))
                self.strategy = m.group("strategy")
                self.ranks[rank] = RankInfo(rank, int(m.group("local")), m.group("device"))
                found = True
        return found

    @property
    def distributed(self) -> bool:
        return bool(self.world_size and self.world_size > 1)

    def summary(self) -> str:
        """`2/2 ranks (ddp): 0 cuda:0 (A100) · 1 cuda:1 (A100)`, or "" for a one-process job."""
        if not self.distributed:
            return ""
        seen = " · ".join(f"{r.rank} {r.device}" for r in sorted(self.ranks.values(), key=lambda r: r.rank))
        return f"{len(self.ranks)}/{self.world_size} ranks ({self.strategy}): {seen}"

    def to_dict(self) -> dict[str, Any]:
        return {"world_size": self.world_size, "strategy": self.strategy,
                "ranks": [{"rank": r.rank, "local_rank": r.local_rank, "device": r.device}
                          for r in sorted(self.ranks.values(), key=lambda r: r.rank)]}
