"""Launch fine-tuning jobs: config and presets, the generated script and command, preflight, backends
(HF Jobs, local, MLX) and the job store. Heavy libraries are imported only inside the functions that
need them."""
