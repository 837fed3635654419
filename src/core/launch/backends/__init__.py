"""Where a launch runs: HF Jobs (`hf_jobs`), this machine (`local`), Apple Silicon (`mlx`)."""
