"""Git-like repos of the fake Hub: commits, trees, LFS objects and the JSON the Hub API serves for them.

Each commit stores the full tree (path -> FileEntry), oldest commit first. Object ids are computed the
way the Hub does: git blob sha1 for regular files, sha256 (`lfs.oid`) plus the git sha1 of the LFS
pointer for large/binary files, so huggingface_hub's no-op detection and cache keys behave as for real.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import secrets as _secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso_z, utcnow

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
"""Above this size the Hub stores a file in LFS (preupload answers `uploadMode: lfs`)."""

# The `.gitattributes` the Hub writes into every new repo: these patterns are LFS whatever their size.
LFS_PATTERNS: tuple[str, ...] = (
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gguf",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
)

GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()

REPO_TYPES = ("model", "dataset", "space")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def wants_lfs(path: str, size: int, sample: bytes) -> bool:
    """The Hub's preupload rule: size, `.gitattributes` patterns, or binary content."""
    if size == 0:
        return False
    if size > LFS_SIZE_THRESHOLD:
        return True
    name = path.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatch(name, pattern) for pattern in LFS_PATTERNS):
        return True
    return b"\x00" in sample


@dataclass(frozen=True)
class FileEntry:
    data: bytes
    lfs: bool

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @property
    def blob_id(self) -> str:
        """Git object id: of the content for regular files, of the pointer file for LFS files."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    def tree_json(self, path: str) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "file", "oid": self.blob_id, "size": self.size, "path": path}
        if self.lfs:
            item["lfs"] = {"oid": self.sha256, "size": self.size, "pointerSize": len(self.pointer)}
        return item


def make_entry(path: str, data: bytes, lfs: bool | None = None) -> FileEntry:
    return FileEntry(data=data, lfs=wants_lfs(path, len(data), data[:512]) if lfs is None else lfs)


@dataclass
class Commit:
    oid: str
    title: str
    message: str
    date: datetime
    author: str
    tree: dict[str, FileEntry]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.oid,
            "title": self.title,
            "message": self.message,
            "authors": [{"user": self.author, "avatar": "/avatars/fake.svg"}],
            "date": iso_z(self.date),
        }


def new_commit_oid(parent: str | None, title: str, tree: dict[str, FileEntry]) -> str:
    digest = hashlib.sha1()
    digest.update((parent or "").encode())
    digest.update(title.encode())
    digest.update(_secrets.token_bytes(8))  # two identical commits still get distinct ids, as in git
    for path in sorted(tree):
        digest.update(path.encode() + tree[path].blob_id.encode())
    return digest.hexdigest()


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool = False
    gated: bool | str = False
    created_at: datetime = field(default_factory=utcnow)
    commits: list[Commit] = field(default_factory=list)
    """Oldest first; `main` is the last one."""

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0] if "/" in self.repo_id else ""

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def commit(
        self,
        title: str,
        tree: dict[str, FileEntry],
        *,
        author: str,
        message: str = "",
        when: datetime | None = None,
    ) -> Commit:
        parent = self.commits[-1].oid if self.commits else None
        commit = Commit(
            oid=new_commit_oid(parent, title, tree),
            title=title,
            message=message,
            date=when or utcnow(),
            author=author,
            tree=dict(tree),
        )
        self.commits.append(commit)
        return commit

    def resolve(self, revision: str) -> Commit | None:
        """`main` (or the Hub's `HEAD`) or a full/abbreviated commit id."""
        if revision in ("main", "HEAD", "refs/heads/main"):
            return self.head if self.commits else None
        if len(revision) >= 7:
            for commit in reversed(self.commits):
                if commit.oid.startswith(revision):
                    return commit
        return None

    def history(self, commit: Commit) -> list[Commit]:
        """Commits reachable from `commit`, newest first (what `/commits/{rev}` lists)."""
        idx = self.commits.index(commit)
        return list(reversed(self.commits[: idx + 1]))

    @property
    def url_prefix(self) -> str:
        return "" if self.repo_type == "model" else f"{self.repo_type}s/"


def tree_listing(tree: dict[str, FileEntry], path: str, recursive: bool) -> list[dict[str, Any]] | None:
    """Entries under `path` ("" = root), files and directories, sorted as the Hub does (dirs with files).

    Returns None when `path` is neither a directory nor a file of the tree.
    """
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    if path.strip("/") in tree:
        name = path.strip("/")
        return [tree[name].tree_json(name)]
    dirs: dict[str, None] = {}
    files: list[dict[str, Any]] = []
    found = False
    for name in sorted(tree):
        if not name.startswith(prefix):
            continue
        found = True
        rest = name[len(prefix) :]
        parts = rest.split("/")
        if len(parts) == 1:
            files.append(tree[name].tree_json(name))
            continue
        if recursive:
            for depth in range(1, len(parts)):
                dirs[prefix + "/".join(parts[:depth])] = None
            files.append(tree[name].tree_json(name))
        else:
            dirs[prefix + parts[0]] = None
    if not found and prefix:
        return None
    dir_items = [
        {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d} for d in dirs
    ]
    return sorted(dir_items + files, key=lambda item: item["path"])


def repo_info_json(repo: Repo, commit: Commit, *, blobs: bool) -> dict[str, Any]:
    """`GET /api/{models,datasets,spaces}/{id}[/revision/{rev}]` body."""
    siblings = []
    for path in sorted(commit.tree):
        entry = commit.tree[path]
        sibling: dict[str, Any] = {"rfilename": path}
        if blobs:
            sibling["size"] = entry.size
            sibling["blobId"] = entry.blob_id
            if entry.lfs:
                sibling["lfs"] = {
                    "sha256": entry.sha256,
                    "size": entry.size,
                    "pointerSize": len(entry.pointer),
                }
        siblings.append(sibling)
    info: dict[str, Any] = {
        "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
        "id": repo.repo_id,
        "author": repo.namespace or None,
        "sha": commit.oid,
        "lastModified": iso_z(repo.head.date),
        "createdAt": iso_z(repo.created_at),
        "private": repo.private,
        "gated": repo.gated if repo.gated else False,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
        "usedStorage": sum(e.size for e in commit.tree.values()),
    }
    if repo.repo_type == "model":
        info["modelId"] = repo.repo_id
        config = commit.tree.get("config.json")
        if config is not None and not repo.gated:
            try:
                parsed = json.loads(config.data)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                # The Hub exposes a small subset of config.json in model info.
                info["config"] = {k: parsed[k] for k in ("architectures", "model_type") if k in parsed}
        if "adapter_config.json" in commit.tree or "model.safetensors" in commit.tree:
            info["library_name"] = "peft" if "adapter_config.json" in commit.tree else "transformers"
    return info
