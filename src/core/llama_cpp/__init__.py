"""llama.cpp, managed: find it, check it, build it (contract D of CONTRACTS.md).

```python
from core.llama_cpp import locate_llama_cpp, LlamaCppInstall
inst = locate_llama_cpp()
inst.root, inst.convert_script, inst.convert_lora_script, inst.quantize_bin, inst.server_bin, inst.problems
```
The installer lives in `core.llama_cpp.install` (imported lazily: it is only needed by
`tui-tuner llama-cpp install`).
"""

from core.llama_cpp.locate import (
    CACHE_SUBDIR,
    PINNED_COMMIT,
    PINNED_SDIST_VERSION,
    LlamaCppInstall,
    cache_tree_dir,
    locate_llama_cpp,
    probe_converter,
)

__all__ = [
    "CACHE_SUBDIR",
    "PINNED_COMMIT",
    "PINNED_SDIST_VERSION",
    "LlamaCppInstall",
    "cache_tree_dir",
    "locate_llama_cpp",
    "probe_converter",
]
