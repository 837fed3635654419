"""Repo routes: info, tree, paths-info, commits, refs, auth-check, create/delete, preupload, commit (NDJSON),
the git-LFS batch API, file resolve (GET/HEAD), and the "storage host" that LFS uploads/downloads go to.

Storage URLs (LFS upload targets, resolve redirects) play the role of the Hub's S3/CDN: they need no
Authorization, and downloads are redirected to `http://localhost:<port>` — another origin than the
`127.0.0.1` endpoint — so huggingface_hub treats them like a CDN (reads metadata from the 302, does not
forward the token), exactly as it does with the real Hub.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import mimetypes
import re
import secrets as _secrets
from typing import Any
from urllib.parse import parse_qs, quote

from .http import HandlerBase, Request
from .repos import GITATTRIBUTES, REPO_TYPES, Commit, FileEntry, Repo, repo_info_json, tree_listing, wants_lfs

_SUBROUTES = frozenset(
    {
        "revision",
        "tree",
        "commits",
        "refs",
        "paths-info",
        "preupload",
        "commit",
        "auth-check",
        "settings",
        "resolve",
        "lfs-files",
        "discussions",
        "xet-write-token",
        "xet-read-token",
    }
)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _split_repo(rest: list[str]) -> tuple[str, list[str]]:
    """`["ns", "name", "tree", ...]` -> ("ns/name", ["tree", ...]); legacy one-segment ids too."""
    if len(rest) >= 2 and rest[1] not in _SUBROUTES:
        return f"{rest[0]}/{rest[1]}", rest[2:]
    return rest[0], rest[1:]


class RepoRoutes(HandlerBase):
    # ================================================================== storage host (no auth)
    def route_public(self, req: Request) -> bool:
        seg = req.segments
        if seg[:1] != ["__storage__"] or len(seg) < 3:
            return False
        kind, oid = seg[1], seg[2]
        if kind == "cdn" and req.method in ("GET", "HEAD"):
            self._serve_cdn(oid)
        elif kind == "upload" and req.method == "PUT" and len(seg) == 3:
            self._store_upload(oid, req.body)
        elif (
            kind == "upload"
            and req.method == "PUT"
            and len(seg) == 5
            and seg[3] == "part"
            and seg[4].isdigit()
        ):
            self._store_part(oid, int(seg[4]), req.body)
        elif kind == "upload" and req.method == "POST" and len(seg) == 3:
            self._complete_multipart(oid, req)
        else:
            self.send_error_json(404, "Not Found")
        return True

    def _serve_cdn(self, oid: str) -> None:
        with self.hub._cond:
            data = self.hub._lfs_objects.get(oid)
        if data is None:
            self.send_bytes(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        self._send_content(data, {"ETag": f'"{oid}"', "Accept-Ranges": "bytes"}, "application/octet-stream")

    def _store_upload(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            self.send_bytes(400, b"<Error><Code>BadDigest</Code></Error>", "application/xml")
            return
        with self.hub._cond:
            self.hub._lfs_objects[oid] = body
            self.hub.lfs_uploads.append(oid)
        self.send_bytes(200, b"", headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def _store_part(self, oid: str, part: int, body: bytes) -> None:
        etag = hashlib.md5(body).hexdigest()
        with self.hub._cond:
            self.hub._lfs_parts.setdefault(oid, {})[part] = (etag, body)
        self.send_bytes(200, b"", headers={"ETag": f'"{etag}"'})

    def _complete_multipart(self, oid: str, req: Request) -> None:
        payload = req.json if isinstance(req.json, dict) else {}
        claimed = payload.get("parts") if isinstance(payload.get("parts"), list) else []
        with self.hub._cond:
            stored = self.hub._lfs_parts.get(oid, {})
            pieces: list[bytes] = []
            for item in sorted(claimed, key=lambda p: int(p.get("partNumber", 0))):
                etag, body = stored.get(int(item.get("partNumber", 0)), ("", b""))
                if not etag or str(item.get("etag", "")).strip('"') != etag:
                    pieces = []
                    break
                pieces.append(body)
            data = b"".join(pieces)
            if not pieces or hashlib.sha256(data).hexdigest() != oid:
                self.send_error_json(400, "Invalid multipart completion")
                return
            self.hub._lfs_objects[oid] = data
            self.hub.lfs_uploads.append(oid)
            self.hub._lfs_parts.pop(oid, None)
        self.send_json(200, {"success": True})

    # ================================================================== hub routes
    def route_repos(self, req: Request) -> bool:
        seg = req.segments
        if (
            seg[:1] == ["api"]
            and len(seg) == 2
            and seg[1] in ("models", "datasets", "spaces")
            and req.method == "GET"
        ):
            self._search(req, seg[1][:-1])
            return True
        if seg[:1] == ["api"] and len(seg) >= 3 and seg[1] in ("models", "datasets", "spaces"):
            repo_id, rest = _split_repo(seg[2:])
            return self._repo_api(req, seg[1][:-1], repo_id, rest)
        if seg[:3] == ["api", "repos", "create"] and req.method == "POST":
            self._create_repo(req)
            return True
        if seg[:3] == ["api", "repos", "delete"] and req.method == "DELETE":
            self._delete_repo(req)
            return True
        if seg[:2] == ["api", "buckets"]:
            # Buckets live on Xet storage only (run_uv_job ships local scripts there): not emulated.
            self.send_error_json(
                501,
                "Buckets (Xet storage) are not available on the fake Hub: run_uv_job needs a URL or command",
            )
            return True
        if seg[:2] == ["api", "validate-yaml"] and req.method == "POST":
            self.send_json(200, {"errors": [], "warnings": []})
            return True
        # git-LFS batch API: /{datasets/|spaces/}{repo_id}.git/info/lfs/objects/{batch,verify}
        joined = "/".join(seg)
        match = re.match(r"^(?:(datasets|spaces)/)?(.+)\.git/info/lfs/objects/(batch|verify)$", joined)
        if match and req.method == "POST":
            repo_type = match.group(1)[:-1] if match.group(1) else "model"
            self._lfs(req, repo_type, match.group(2), match.group(3))
            return True
        # resolve: /{datasets/|spaces/}{repo_id}/resolve/{revision}/{path}
        if "resolve" in seg and req.method in ("GET", "HEAD"):
            start = 1 if seg[0] in ("datasets", "spaces") else 0
            repo_type = seg[0][:-1] if start else "model"
            idx = seg.index("resolve", start)
            if 1 <= idx - start <= 2 and len(seg) > idx + 2:
                repo_id = "/".join(seg[start:idx])
                self._resolve(req, repo_type, repo_id, seg[idx + 1], "/".join(seg[idx + 2 :]))
                return True
        return False

    # ------------------------------------------------------------------ access rules
    def _readable_repo(self, req: Request, repo_type: str, repo_id: str) -> Repo | None:
        """The repo if this caller may see it; otherwise sends the Hub's RepoNotFound answer."""
        hub = self.hub
        repo = hub._repos.get((repo_type, repo_id))
        if repo is not None and (not repo.private or hub._may_use_namespace(repo.namespace, req.user)):
            return repo
        if req.user is None:
            self.send_error_json(401, "Invalid username or password.", "RepoNotFound")
        else:
            self.send_error_json(404, "Repository not found", "RepoNotFound")
        return None

    def _gate(self, req: Request, repo: Repo) -> bool:
        """File content of a gated repo the user was not granted: 401 anonymous / 403 with a token."""
        if not repo.gated:
            return True
        kind = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        if req.user is None:
            self.send_error_json(
                401,
                f"Access to {repo.repo_type} {repo.repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in.",
                "GatedRepo",
            )
        else:
            self.send_error_json(
                403,
                f"Access to {repo.repo_type} {repo.repo_id} is restricted and you are not in the authorized list. "
                f"Visit {self.hub.url}/{kind}{repo.repo_id} to ask for access.",
                "GatedRepo",
            )
        return False

    def _writable(self, req: Request, repo: Repo | None, repo_id: str) -> bool:
        if req.user is None:
            self.send_error_json(401, "Invalid username or password.")
            return False
        if self.hub.token_role == "read":
            self.send_error_json(
                403, f"You have read access but not the required permissions for this operation on {repo_id}"
            )
            return False
        namespace = repo.namespace if repo is not None else repo_id.split("/", 1)[0]
        if not self.hub._may_use_namespace(namespace, req.user):
            self.send_error_json(403, f"You don't have the rights to write to {repo_id}")
            return False
        return True

    def _commit_or_404(self, repo: Repo, revision: str) -> Commit | None:
        commit = repo.resolve(revision)
        if commit is None:
            self.send_error_json(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # ------------------------------------------------------------------ /api/{type}s/{id}/...
    def _repo_api(self, req: Request, repo_type: str, repo_id: str, rest: list[str]) -> bool:
        hub = self.hub
        action = rest[0] if rest else None
        if action == "settings" and req.method == "PUT":
            with hub._cond:
                repo = self._readable_repo(req, repo_type, repo_id)
                if repo is None or not self._writable(req, repo, repo_id):
                    return True
                body = req.json if isinstance(req.json, dict) else {}
                if "private" in body:
                    repo.private = bool(body["private"])
                if "gated" in body:
                    repo.gated = body["gated"] or False
            self.send_json(200, {})
            return True
        with hub._cond:
            repo = self._readable_repo(req, repo_type, repo_id)
            if repo is None:
                return True
            if action is None and req.method == "GET":
                self.send_json(
                    200,
                    repo_info_json(
                        repo, repo.head, blobs=req.param("blobs") == "True" or req.param("blobs") == "true"
                    ),
                )
            elif action == "revision" and len(rest) == 2 and req.method == "GET":
                commit = self._commit_or_404(repo, rest[1])
                if commit is not None:
                    self.send_json(
                        200, repo_info_json(repo, commit, blobs=req.param("blobs") in ("True", "true"))
                    )
            elif action == "tree" and len(rest) >= 2 and req.method == "GET":
                self._tree(req, repo, rest[1], "/".join(rest[2:]))
            elif action == "paths-info" and len(rest) == 2 and req.method == "POST":
                self._paths_info(req, repo, rest[1])
            elif action == "commits" and len(rest) == 2 and req.method == "GET":
                self._commits(req, repo, rest[1])
            elif action == "refs" and len(rest) == 1 and req.method == "GET":
                self.send_json(
                    200,
                    {
                        "branches": [
                            {"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head.oid}
                        ],
                        "converts": [],
                        "tags": [],
                        "pullRequests": [],
                    },
                )
            elif action == "auth-check" and req.method == "GET":
                if (
                    len(rest) == 2 and rest[1] == "write" and not self._writable(req, repo, repo_id)
                ) or not self._gate(req, repo):
                    return True
                self.send_json(200, {})
            elif action == "preupload" and len(rest) == 2 and req.method == "POST":
                if self._writable(req, repo, repo_id):
                    self._preupload(req, repo, rest[1])
            elif action == "commit" and len(rest) == 2 and req.method == "POST":
                if self._writable(req, repo, repo_id):
                    self._commit(req, repo, rest[1])
            elif action in ("xet-write-token", "xet-read-token"):
                # Xet storage is not emulated: tests run with HF_HUB_DISABLE_XET=1 (see fixtures.py).
                self.send_error_json(
                    501, "Xet storage is not available on the fake Hub (set HF_HUB_DISABLE_XET=1)"
                )
            else:
                return False
        return True

    def _search(self, req: Request, repo_type: str) -> None:
        """`GET /api/models?author=&search=&limit=`: visible repos of that type, by id, without siblings."""
        hub = self.hub
        author = req.param("author")
        search = (req.param("search") or "").lower()
        with hub._cond:
            found = [
                repo
                for (kind, repo_id), repo in sorted(hub._repos.items())
                if kind == repo_type
                and (author is None or repo.namespace == author)
                and search in repo_id.lower()
                and (not repo.private or hub._may_use_namespace(repo.namespace, req.user))
            ]
            items = []
            for repo in found:
                info = repo_info_json(repo, repo.head, blobs=False)
                if req.param("full") not in ("True", "true"):
                    info.pop("siblings", None)
                items.append(info)
        limit = req.param("limit")
        self._paged(req, items, int(limit) if limit and limit.isdigit() else 1000)

    def _tree(self, req: Request, repo: Repo, revision: str, path: str) -> None:
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        recursive = req.param("recursive", "false") in ("true", "True", "1")
        items = tree_listing(commit.tree, path, recursive)
        if items is None:
            self.send_error_json(404, f'{path} does not exist on "{revision}"', "EntryNotFound")
            return
        self._paged(req, items, self.hub.tree_page_size)

    def _paths_info(self, req: Request, repo: Repo, revision: str) -> None:
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        form = parse_qs(req.body.decode(), keep_blank_values=True)
        out: list[dict[str, Any]] = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.tree:
                out.append(commit.tree[path].tree_json(path))
            elif any(name.startswith(f"{path}/") for name in commit.tree):
                out.append(
                    {
                        "type": "directory",
                        "oid": hashlib.sha1(path.encode()).hexdigest(),
                        "size": 0,
                        "path": path,
                    }
                )
        self.send_json(200, out)

    def _commits(self, req: Request, repo: Repo, revision: str) -> None:
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        items = [c.to_json() for c in repo.history(commit)]
        if "formatted" in req.query.get("expand[]", []):
            for item in items:
                item["formatted"] = {"title": item["title"], "message": item["message"]}
        self._paged(req, items, self.hub.commits_page_size, param="p")

    def _paged(self, req: Request, items: list[Any], size: int, param: str = "cursor") -> None:
        """Cursor pagination with a GitHub-style `Link: <next>; rel="next"` header (huggingface_hub's paginate)."""
        try:
            page = int(req.param(param, "0") or 0)
        except ValueError:
            page = 0
        size = max(int(size), 1)
        chunk = items[page * size : (page + 1) * size]
        headers = {}
        if (page + 1) * size < len(items):
            others = [(k, v) for k, values in req.query.items() if k != param for v in values]
            query = "&".join(
                f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in [*others, (param, str(page + 1))]
            )
            headers["Link"] = f'<{self.hub.url}{req.path}?{query}>; rel="next"'
        self.send_json(200, chunk, headers)

    # ------------------------------------------------------------------ create / delete
    def _create_repo(self, req: Request) -> None:
        hub = self.hub
        body = req.json if isinstance(req.json, dict) else {}
        name = body.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name):
            self.send_error_json(400, "Invalid repo name")
            return
        namespace = body.get("organization") or req.user or ""
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES:
            self.send_error_json(400, f"Invalid repo type {repo_type}")
            return
        repo_id = f"{namespace}/{name}"
        if not self._writable(req, None, repo_id):
            return
        private = body.get("visibility") == "private" or bool(body.get("private"))
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{hub.url}/{prefix}{repo_id}"
        with hub._cond:
            if (repo_type, repo_id) in hub._repos:
                # The Hub's 409 carries the existing repo's url; create_repo(exist_ok=True) reads it.
                message = f"You already created this {repo_type} repo"
                self.send_json(409, {"error": message, "url": url}, {"X-Error-Message": message})
                return
            repo = Repo(repo_id=repo_id, repo_type=repo_type, private=private)
            # The Hub seeds every new repo with its LFS `.gitattributes`.
            repo.commit(
                "initial commit", {".gitattributes": FileEntry(GITATTRIBUTES, lfs=False)}, author=hub.user
            )
            hub._repos[(repo_type, repo_id)] = repo
        self.send_json(
            200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]}
        )

    def _delete_repo(self, req: Request) -> None:
        hub = self.hub
        body = req.json if isinstance(req.json, dict) else {}
        namespace = body.get("organization") or req.user or ""
        repo_id = f"{namespace}/{body.get('name')}"
        repo_type = body.get("type") or "model"
        if not self._writable(req, None, repo_id):
            return
        with hub._cond:
            if hub._repos.pop((repo_type, repo_id), None) is None:
                self.send_error_json(404, "Repository not found", "RepoNotFound")
                return
        self.send_json(200, {})

    # ------------------------------------------------------------------ uploads
    def _preupload(self, req: Request, repo: Repo, revision: str) -> None:
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        body = req.json if isinstance(req.json, dict) else {}
        files = body.get("files")
        if not isinstance(files, list):
            self.send_error_json(400, "Invalid preupload payload")
            return
        ignore = [
            line.strip()
            for line in str(body.get("gitIgnore") or "").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        out = []
        for item in files:
            path = str(item.get("path", ""))
            sample = base64.b64decode(item.get("sample") or "")
            size = int(item.get("size") or 0)
            lfs = wants_lfs(path, size, sample)
            existing = commit.tree.get(path)
            oid = None
            if existing is not None:
                oid = existing.sha256 if existing.lfs else existing.blob_id
            out.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": any(
                        fnmatch.fnmatch(path, pat) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pat)
                        for pat in ignore
                    ),
                    "oid": oid,
                }
            )
        self.send_json(200, {"files": out, "commitOid": commit.oid})

    def _commit(self, req: Request, repo: Repo, revision: str) -> None:
        hub = self.hub
        if req.param("create_pr") == "1":
            self.send_error_json(400, "Pull requests are not supported by the fake Hub")
            return
        commit = self._commit_or_404(repo, revision)
        if commit is None:
            return
        if commit is not repo.head:
            self.send_error_json(400, "Commits are only accepted on the main branch")
            return
        try:
            items = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        except ValueError:
            self.send_error_json(400, "Invalid NDJSON commit payload")
            return
        header = next((i["value"] for i in items if i.get("key") == "header"), None)
        if not isinstance(header, dict) or not header.get("summary"):
            self.send_error_json(400, "Missing commit header with a summary")
            return
        parent = header.get("parentCommit")
        if parent and parent != repo.head.oid:
            self.send_error_json(412, "A commit has happened since. Please refresh and try again.")
            return
        tree = dict(repo.head.tree)
        for item in items:
            key, value = item.get("key"), item.get("value") or {}
            path = str(value.get("path", "")).strip("/")
            if key == "file":
                data = (
                    base64.b64decode(value.get("content", ""))
                    if value.get("encoding") == "base64"
                    else str(value.get("content", "")).encode()
                )
                tree[path] = FileEntry(data, lfs=False)
            elif key == "lfsFile":
                data = hub._lfs_objects.get(str(value.get("oid")))
                if data is None:
                    self.send_error_json(
                        400,
                        f"Your push was rejected because an LFS pointer pointed to a file that does not exist ({path})",
                    )
                    return
                tree[path] = FileEntry(data, lfs=True)
            elif key == "deletedFile":
                if path not in tree:
                    self.send_error_json(404, "A file with this name doesn't exist", "EntryNotFound")
                    return
                del tree[path]
            elif key == "deletedFolder":
                for name in [n for n in tree if n.startswith(f"{path}/")]:
                    del tree[name]
            elif key != "header":
                self.send_error_json(400, f"Unknown commit operation {key!r}")
                return
        new = repo.commit(
            str(header["summary"]),
            tree,
            author=req.user or hub.user,
            message=str(header.get("description") or ""),
        )
        hub._cond.notify_all()
        self.send_json(
            200,
            {
                "success": True,
                "commitOid": new.oid,
                "commitUrl": f"{hub.url}/{repo.url_prefix}{repo.repo_id}/commit/{new.oid}",
                "hookOutput": "",
                "pullRequestUrl": None,
            },
        )

    def _lfs(self, req: Request, repo_type: str, repo_id: str, op: str) -> None:
        hub = self.hub
        with hub._cond:
            repo = self._readable_repo(req, repo_type, repo_id)
            if repo is None or not self._writable(req, repo, repo_id):
                return
            body = req.json if isinstance(req.json, dict) else {}
            if op == "verify":
                data = hub._lfs_objects.get(str(body.get("oid")))
                if data is None or len(data) != body.get("size"):
                    self.send_error_json(404, "Object not found", "EntryNotFound")
                else:
                    self.send_json(200, {"success": True})
                return
            if body.get("operation") != "upload":
                self.send_error_json(400, "Only the upload operation is supported")
                return
            chunk = hub.lfs_multipart_chunk_size
            objects = []
            for obj in body.get("objects") or []:
                oid, size = str(obj.get("oid")), int(obj.get("size") or 0)
                item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
                if oid not in hub._lfs_objects:
                    signature = _secrets.token_hex(8)
                    href = f"{hub.url}/__storage__/upload/{oid}?X-Amz-Signature={signature}"
                    if chunk and size > chunk:
                        parts = -(-size // chunk)
                        header = {"chunk_size": str(chunk)}
                        header.update(
                            {
                                str(
                                    n
                                ): f"{hub.url}/__storage__/upload/{oid}/part/{n}?X-Amz-Signature={signature}"
                                for n in range(1, parts + 1)
                            }
                        )
                        upload = {"href": href, "header": header}
                    else:
                        upload = {"href": href}
                    verify_url = f"{hub.url}/{repo.url_prefix}{repo.repo_id}.git/info/lfs/objects/verify"
                    item["actions"] = {"upload": upload, "verify": {"href": verify_url}}
                objects.append(item)
        self.send_json(
            200,
            {"transfer": "multipart" if chunk else "basic", "objects": objects},
            {"Content-Type": "application/vnd.git-lfs+json"},
        )

    # ------------------------------------------------------------------ resolve
    def _resolve(self, req: Request, repo_type: str, repo_id: str, revision: str, filename: str) -> None:
        hub = self.hub
        with hub._cond:
            repo = self._readable_repo(req, repo_type, repo_id)
            if repo is None or not self._gate(req, repo):
                return
            commit = self._commit_or_404(repo, revision)
            if commit is None:
                return
            entry = commit.tree.get(filename)
        if entry is None:
            self.send_error_json(
                404, f"Entry not found: {filename}", "EntryNotFound", {"X-Repo-Commit": commit.oid}
            )
            return
        name = filename.rsplit("/", 1)[-1]
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{entry.blob_id}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
            "Vary": "Origin, Accept",
        }
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if not entry.lfs:
            self._send_content(entry.data, headers, content_type)
            return
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(entry.size)
        with hub._cond:
            hub._lfs_objects.setdefault(entry.sha256, entry.data)
        if hub.lfs_redirect:
            location = f"http://{hub.storage_host}:{hub.port}/__storage__/cdn/{entry.sha256}?response-content-disposition=attachment%3B+filename%3D{quote(name)}"
            headers["Location"] = location
            text = f"Found. Redirecting to {location}".encode()
            self.send_bytes(302, text, "text/plain; charset=utf-8", headers)
            return
        self._send_content(entry.data, headers, content_type)

    def _send_content(self, data: bytes, headers: dict[str, str], content_type: str) -> None:
        """200 with the bytes, or 206 for a `Range: bytes=a-b` request (resumed downloads)."""
        match = _RANGE.match(self.headers.get("Range", "").strip())
        if match and (match.group(1) or match.group(2)):
            total = len(data)
            if match.group(1):
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else total - 1
            else:
                start, end = max(total - int(match.group(2)), 0), total - 1
            if start >= total:
                self.send_bytes(416, b"", content_type, {"Content-Range": f"bytes */{total}"})
                return
            end = min(end, total - 1)
            self.send_bytes(
                206,
                data[start : end + 1],
                content_type,
                {**headers, "Content-Range": f"bytes {start}-{end}/{total}"},
            )
            return
        self.send_bytes(200, data, content_type, headers)


__all__ = ["RepoRoutes"]
