"""`python -m core.convert.hub_worker download|upload`: Hub transfers in their own process.

A subprocess (not a thread) so that cancel really stops a multi-GB transfer: the pipeline kills the
process group. Downloads go through `hf_hub_download`, file by file, which resumes `.incomplete` files
from an earlier interrupted run. Progress is JSON lines on stdout (same protocol as merge_worker).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import shutil
import sys
from pathlib import Path

from core.errors import TunerError

MODEL_PATTERNS = ("*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt", "*.tiktoken")
ADAPTER_PATTERNS = ("adapter_config.json", "adapter_model.safetensors", "*.json", "tokenizer.model", "*.jinja",
                    "*.txt")


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def download(repo: str, kind: str, local_dir: Path | None, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    from core.hub import hf_api, hub_endpoint, hub_error

    api = hf_api()
    try:
        info = api.model_info(repo, revision=revision, files_metadata=True)
    except Exception as exc:
        raise hub_error(exc, f"{kind} {repo}") from None
    patterns = MODEL_PATTERNS if kind == "base" else ADAPTER_PATTERNS
    files = [(s.rfilename, s.size or 0) for s in (info.siblings or [])
             if any(fnmatch.fnmatch(s.rfilename, p) for p in patterns) and "/" not in s.rfilename]
    if kind == "adapter" and not any(name == "adapter_config.json" for name, _ in files):
        raise TunerError(f"{repo} has no adapter_config.json", field="adapter",
                         hint="this repo is not a PEFT LoRA adapter (a full model? then use it as --base-model)")
    if kind == "base" and not any(name.endswith(".safetensors") for name, _ in files):
        raise TunerError(f"{repo} has no *.safetensors weights", field="base_model")
    total = sum(size for _, size in files)
    if local_dir is not None:
        local_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(local_dir or Path.home()).free
    if total > free:
        raise TunerError(f"{repo} needs {total / 1e9:.1f} GB, {free / 1e9:.1f} GB free", hint="free disk space")
    done = 0
    last: Path | None = None
    for name, size in files:
        _emit({"kind": "progress", "done": done, "total": total, "label": name})
        try:
            path = hf_hub_download(repo, name, revision=info.sha or revision, local_dir=str(local_dir) if local_dir else None,
                                   endpoint=hub_endpoint())
        except Exception as exc:
            raise hub_error(exc, f"download {repo}/{name}") from None
        last = Path(path)
        done += size
    _emit({"kind": "progress", "done": total, "total": total, "label": "done"})
    assert last is not None
    return local_dir if local_dir else last.parent


def upload(repo: str, files: list[Path], readme: str | None, private: bool) -> str:
    from core.hub import hf_api, hub_error

    api = hf_api()
    try:
        url = api.create_repo(repo, repo_type="model", exist_ok=True, private=private)
    except Exception as exc:
        raise hub_error(exc, f"create {repo}") from None
    total = sum(f.stat().st_size for f in files)
    done = 0
    for path in files:
        _emit({"kind": "progress", "done": done, "total": total, "label": path.name})
        try:
            api.upload_file(path_or_fileobj=str(path), path_in_repo=path.name, repo_id=repo, repo_type="model",
                            commit_message=f"Upload {path.name}")
        except Exception as exc:
            raise hub_error(exc, f"upload {path.name} to {repo}") from None
        done += path.stat().st_size
    if readme is not None:
        try:
            api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id=repo,
                            repo_type="model", commit_message="Add model card")
        except Exception as exc:
            raise hub_error(exc, f"upload README.md to {repo}") from None
    _emit({"kind": "progress", "done": total, "total": total, "label": "done"})
    return str(getattr(url, "repo_id", None) or repo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub_worker")
    sub = parser.add_subparsers(dest="action", required=True)
    dl = sub.add_parser("download")
    dl.add_argument("--repo", required=True)
    dl.add_argument("--kind", choices=["base", "adapter"], required=True)
    dl.add_argument("--local-dir")
    dl.add_argument("--revision")
    up = sub.add_parser("upload")
    up.add_argument("--repo", required=True)
    up.add_argument("--readme-file")
    up.add_argument("--private", action="store_true")
    up.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.action == "download":
            path = download(args.repo, args.kind, Path(args.local_dir) if args.local_dir else None, args.revision)
            _emit({"kind": "result", "path": str(path)})
        else:
            readme = Path(args.readme_file).read_text(encoding="utf-8") if args.readme_file else None
            repo = upload(args.repo, [Path(f) for f in args.files], readme, args.private)
            _emit({"kind": "result", "repo": repo})
    except TunerError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
