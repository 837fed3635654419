"""HF Jobs hardware flavors: GPU memory and price (huggingface_hub 2.4.0 `JobHardware`, hub-docs pricing).

Shared by the calculator (what fits, cheapest), the launcher (preflight) and the monitor (cost so far).
Prices are per hour, billed per minute while the job is starting or running.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9
"""Flavor memory is quoted in decimal gigabytes by the Hub; estimates are compared in bytes."""


@dataclass(frozen=True)
class Flavor:
    name: str
    pretty_name: str
    vcpu: int
    ram_gb: int
    gpu_name: str | None
    gpu_count: int
    gpu_memory_gb: float
    """Memory of ONE GPU; a job that does not shard the model must fit in this."""
    price_per_hour: float

    @property
    def is_gpu(self) -> bool:
        return self.gpu_count > 0

    @property
    def total_gpu_memory_gb(self) -> float:
        return self.gpu_memory_gb * self.gpu_count

    def cost(self, seconds: float) -> float:
        """Cost of `seconds` of running time, billed per started minute."""
        minutes = -(-max(seconds, 0.0) // 60)
        return round(minutes * self.price_per_hour / 60.0, 4)


def _f(name: str, pretty: str, vcpu: int, ram: int, gpu: str | None, count: int, mem: float, price: float) -> Flavor:
    return Flavor(name, pretty, vcpu, ram, gpu, count, mem, price)


FLAVORS: tuple[Flavor, ...] = (
    _f("cpu-basic", "CPU Basic", 2, 16, None, 0, 0, 0.01),
    _f("cpu-upgrade", "CPU Upgrade", 8, 32, None, 0, 0, 0.03),
    _f("cpu-performance", "CPU Performance", 32, 256, None, 0, 0, 1.90),
    _f("cpu-xl", "CPU XL", 16, 124, None, 0, 0, 1.00),
    _f("t4-small", "Nvidia T4 - small", 4, 15, "T4", 1, 16, 0.40),
    _f("t4-medium", "Nvidia T4 - medium", 8, 30, "T4", 1, 16, 0.60),
    _f("l4x1", "1x Nvidia L4", 8, 30, "L4", 1, 24, 0.80),
    _f("l4x4", "4x Nvidia L4", 48, 186, "L4", 4, 24, 3.80),
    _f("l40sx1", "1x Nvidia L40S", 8, 62, "L40S", 1, 48, 1.80),
    _f("l40sx4", "4x Nvidia L40S", 48, 382, "L40S", 4, 48, 8.30),
    _f("l40sx8", "8x Nvidia L40S", 192, 1534, "L40S", 8, 48, 23.50),
    _f("a10g-small", "Nvidia A10G - small", 4, 15, "A10G", 1, 24, 1.00),
    _f("a10g-large", "Nvidia A10G - large", 12, 46, "A10G", 1, 24, 1.50),
    _f("a10g-largex2", "2x Nvidia A10G - large", 24, 92, "A10G", 2, 24, 3.00),
    _f("a10g-largex4", "4x Nvidia A10G - large", 48, 184, "A10G", 4, 24, 5.00),
    _f("a100-large", "Nvidia A100 - large", 12, 142, "A100", 1, 80, 2.50),
    _f("a100x4", "4x Nvidia A100", 48, 568, "A100", 4, 80, 10.00),
    _f("a100x8", "8x Nvidia A100", 96, 1136, "A100", 8, 80, 20.00),
    _f("h200", "Nvidia H200", 23, 256, "H200", 1, 141, 5.00),
    _f("h200x2", "Nvidia H200", 46, 512, "H200", 2, 141, 10.00),
    _f("h200x4", "Nvidia H200", 92, 1024, "H200", 4, 141, 20.00),
    _f("h200x8", "Nvidia H200", 184, 2048, "H200", 8, 141, 40.00),
    _f("rtx-pro-6000", "Nvidia RTX PRO 6000", 23, 256, "RTX PRO 6000", 1, 96, 2.75),
    _f("rtx-pro-6000x2", "Nvidia RTX PRO 6000", 46, 512, "RTX PRO 6000", 2, 96, 5.50),
    _f("rtx-pro-6000x4", "Nvidia RTX PRO 6000", 92, 1024, "RTX PRO 6000", 4, 96, 11.00),
    _f("rtx-pro-6000x8", "Nvidia RTX PRO 6000", 184, 2048, "RTX PRO 6000", 8, 96, 22.00),
)

_BY_NAME = {f.name: f for f in FLAVORS}


def get_flavor(name: str) -> Flavor | None:
    return _BY_NAME.get(name)


def gpu_flavors() -> list[Flavor]:
    return [f for f in FLAVORS if f.is_gpu]


def flavors_that_fit(peak_bytes_per_gpu: float) -> list[Flavor]:
    """GPU flavors whose single-GPU memory holds `peak_bytes_per_gpu`, cheapest first."""
    fits = [f for f in gpu_flavors() if f.gpu_memory_gb * GB >= peak_bytes_per_gpu]
    return sorted(fits, key=lambda f: (f.price_per_hour, f.gpu_memory_gb))


def cheapest_fit(peak_bytes_per_gpu: float) -> Flavor | None:
    fits = flavors_that_fit(peak_bytes_per_gpu)
    return fits[0] if fits else None
