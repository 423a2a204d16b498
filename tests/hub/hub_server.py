"""A small local Hugging Face Hub: the part of its HTTP API that huggingface_hub and datasets use
to create repos, commit files (regular and LFS), list trees, resolve files and revisions.

Tests drive the real, unpatched clients against it through ``HF_ENDPOINT``. It keeps every commit
(files by content, with a sha), so a test can check what one push changed, and it refuses what
the Hub refuses: writes without the right token, unknown repos, revisions and files (with the
Hub's ``X-Error-Code`` headers), writes with a read-only token or a fine-grained one without
``repo.write`` on the namespace or repo, card metadata the Hub rejects (YAML that does not parse,
a ``size_categories`` value not on the Hub's list, two ``default`` configs, tags that are not
strings). Like the Hub, it answers an LFS file's sha256 as its oid in preupload (so unchanged
shards are skipped by the client) and keeps tags beside branches. Facts it relies on:
``../shared/docs/hub_testing.md``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import yaml

LFS_POINTER_SIZE = 134
_API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+?)(?:/(revision|tree|preupload|commit|paths-info|branch|tag|commits)(?:/([^/]*)(?:/(.*))?)?)?$")
_RESOLVE = re.compile(r"^/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_LFS_BATCH = re.compile(r"^/(datasets/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$")
# The Hub's size_categories values (its dataset metadata validation refuses any other).
SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B",
                   "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T")
WRITE_ACTIONS = ("preupload", "commit", "branch", "tag")


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    files: dict[str, bytes]
    lfs: set[str]  # paths committed through LFS
    date: float = field(default_factory=time.time)
    sent: list[str] = field(default_factory=list)  # paths the commit's payload added or deleted


@dataclass
class Repo:
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def commit(self, revision: str) -> Commit | None:
        sha = self.branches.get(revision, self.tags.get(revision, revision))
        return self.commits.get(sha)


class HubState:
    """Repos by ``(type, id)``, LFS objects by sha256, and the one user and the token it accepts."""

    def __init__(self, user: str, token: str, orgs: tuple[str, ...] = ()) -> None:
        self.user, self.token, self.orgs = user, token, orgs
        # The token's role as whoami reports it: "write", "read", or "fineGrained" with
        # ``fine_grained`` = whoami's ``scoped`` list ({"entity": {"type", "name"}, "permissions"}).
        self.role = "write"
        self.fine_grained: list[dict[str, Any]] = []
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.fail_commits = False  # tests set it to see a push fail after the stage's work

    def new_commit(self, repo: Repo, branch: str, title: str, files: dict[str, bytes], lfs: set[str]) -> Commit:
        parent = repo.branches.get(branch)
        digest = hashlib.sha1(f"{parent}\0{title}\0{time.time_ns()}".encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha1(files[path]).digest())
        commit = Commit(digest.hexdigest(), parent, title, files, lfs)
        repo.commits[commit.sha] = commit
        repo.branches[branch] = commit.sha
        return commit


def blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class HubHandler(BaseHTTPRequestHandler):
    server: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are kept in state
        pass

    # --- plumbing ---
    @property
    def state(self) -> HubState:
        return self.server.state

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:  # fmt: skip
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {})}
        body = b"" if self.command == "HEAD" else json.dumps({"error": message}).encode()
        self._send(status, body, headers)

    def _token_ok(self, *, required: bool) -> bool:
        """No token is fine for reads (repos are public unless private); a wrong one never is."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            if required:
                self._error(401, None, "Invalid username or password.")
            return not required
        if auth != f"Bearer {self.state.token}":
            self._error(401, None, "Invalid credentials in Authorization header")
            return False
        return True

    def _repo(self, kind: str, repo_id: str) -> Repo | None:
        repo = self.state.repos.get((kind, repo_id))
        authed = self.headers.get("Authorization") == f"Bearer {self.state.token}"
        if repo is None or (repo.private and not authed):
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _commit_at(self, repo: Repo, revision: str) -> Commit | None:
        commit = repo.commit(unquote(revision))
        if commit is None:
            self._error(404, "RevisionNotFound", "Invalid rev id: " + unquote(revision))
        return commit

    # --- routing ---
    def do_HEAD(self) -> None:
        self._route()

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        path = urlparse(self.path).path
        self.state.requests.append(f"PUT {path}")
        body = self._body()
        if path.startswith("/lfs-upload/"):
            oid = path.rsplit("/", 1)[1]
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(400, None, "sha256 mismatch")
            with self.state.lock:
                self.state.lfs_objects[oid] = body
            return self._send(200)
        self._error(404, None, "not found")

    def _route(self) -> None:
        url = urlparse(self.path)
        self.state.requests.append(f"{self.command} {url.path}")
        path, query = url.path, parse_qs(url.query)
        if path == "/api/whoami-v2":
            return self._whoami()
        if path == "/api/repos/create" and self.command == "POST":
            return self._create_repo(json.loads(self._body() or b"{}"))
        if path == "/api/validate-yaml" and self.command == "POST":
            return self._validate_yaml(json.loads(self._body() or b"{}"))
        if match := _LFS_BATCH.match(path):
            return self._lfs_batch("datasets" if match.group(1) else "models", match.group(2))
        if match := _RESOLVE.match(path):
            kind = "datasets" if match.group(1) else "models"
            return self._resolve(kind, match.group(2), match.group(3), unquote(match.group(4)))
        if match := _API.match(path):
            kind, repo_id, action, revision, rest = match.groups()
            return self._api(kind, repo_id, action, revision or "main", unquote(rest or ""), query)
        self._error(404, None, f"no route for {self.command} {path}")

    # --- endpoints ---
    def _whoami(self) -> None:
        if self._token_ok(required=True):
            token: dict[str, Any] = {"displayName": "test", "role": self.state.role}
            if self.state.role == "fineGrained":
                token["fineGrained"] = {"canReadGatedRepos": False, "global": [], "scoped": self.state.fine_grained}
            self._json({"type": "user", "name": self.state.user, "orgs": [{"name": o} for o in self.state.orgs],
                        "auth": {"type": "access_token", "accessToken": token}})  # fmt: skip

    def _may_write(self, repo_id: str, kind: str = "datasets") -> bool:
        if not self._token_ok(required=True):
            return False
        if repo_id.split("/")[0] not in (self.state.user, *self.state.orgs) or not self._token_writes(repo_id, kind):
            self._error(403, None, f"You don't have the rights to create or write to {repo_id}")
            return False
        return True

    def _token_writes(self, repo_id: str, kind: str) -> bool:
        """A write token writes; a read one never; a fine-grained one where a scope grants repo.write."""
        if self.state.role != "fineGrained":
            return self.state.role == "write"
        targets = {repo_id.split("/")[0], f"{kind[:-1]}:{repo_id}"}
        return any("repo.write" in scope.get("permissions", [])
                   and (scope["entity"]["name"] if scope["entity"]["type"] in ("user", "org")
                        else f"{scope['entity']['type']}:{scope['entity']['name']}") in targets
                   for scope in self.state.fine_grained)  # fmt: skip

    def _create_repo(self, payload: dict[str, Any]) -> None:
        kind = f"{payload.get('type') or 'model'}s"
        repo_id = f"{payload.get('organization') or self.state.user}/{payload['name']}"
        if not self._may_write(repo_id, kind):
            return
        prefix = "" if kind == "models" else f"{kind}/"
        url = f"http://{self.headers['Host']}/{prefix}{repo_id}"
        with self.state.lock:
            if (kind, repo_id) in self.state.repos:
                return self._json({"error": "You already created this repo", "url": url}, 409)
            repo = Repo(private=payload.get("visibility") == "private" or bool(payload.get("private")))
            self.state.repos[(kind, repo_id)] = repo
            # The Hub starts every repo with a commit of .gitattributes (push_to_hub relies on it).
            self.state.new_commit(repo, "main", "initial commit", {".gitattributes": b"*.parquet filter=lfs\n"}, set())
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        """The Hub's answer: 400 with ``errors: [{message}]`` (huggingface_hub raises ValueError)."""
        content = payload.get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---", content, re.DOTALL)
        try:
            data = yaml.safe_load(match.group(1)) if match else {}
        except yaml.YAMLError as exc:
            return self._json({"errors": [{"message": f"Invalid YAML in README.md: {exc}"}], "warnings": []}, 400)
        errors = metadata_errors(data, payload.get("repoType") or "model")
        self._json({"errors": [{"message": e} for e in errors], "warnings": []}, 400 if errors else 200)

    def _api(self, kind: str, repo_id: str, action: str | None, revision: str, rest: str,
             query: dict[str, list[str]]) -> None:  # fmt: skip
        if action in WRITE_ACTIONS and not self._may_write(repo_id, kind):
            return
        if action not in WRITE_ACTIONS and not self._token_ok(required=False):
            return
        repo = self._repo(kind, repo_id)
        if repo is None:
            return
        if action == "branch":
            return self._create_branch(repo, unquote(revision), json.loads(self._body() or b"{}"))
        if action == "tag":
            return self._create_tag(repo, unquote(revision), json.loads(self._body() or b"{}"))
        commit = self._commit_at(repo, revision)
        if commit is None:
            return
        if action in (None, "revision"):
            return self._info(repo_id, repo, commit)
        if action == "tree":
            return self._tree(commit, rest, query.get("recursive", ["false"])[0].lower() in ("1", "true"))
        if action == "paths-info":
            form = parse_qs(self._body().decode())
            return self._json([e for p in form.get("paths", []) for e in self._entries(commit, p, exact=True)])
        if action == "commits":
            return self._json(self._history(repo, commit))
        if action == "preupload":
            files = json.loads(self._body())["files"]
            return self._json({"files": [
                {"path": f["path"], "uploadMode": "regular" if f["path"].endswith((".md", ".json", ".yaml", ".gitattributes")) else "lfs",
                 "shouldIgnore": False, "oid": self._oid(commit, f["path"])}
                for f in files]})  # fmt: skip
        if action == "commit":
            if self.state.fail_commits:
                return self._json({"error": "Internal Error - We're working hard to fix this as soon as possible!"}, 500)
            return self._commit(kind, repo_id, repo, unquote(revision))
        self._error(404, None, "unknown action")

    @staticmethod
    def _oid(commit: Commit, path: str) -> str | None:
        """The Hub's oid of a file already there: sha256 of an LFS file's content, else the git blob sha1."""
        if path not in commit.files:
            return None
        content = commit.files[path]
        return hashlib.sha256(content).hexdigest() if path in commit.lfs else blob_oid(content)

    def _info(self, repo_id: str, repo: Repo, commit: Commit) -> None:
        card = commit.files.get("README.md", b"").decode()
        match = re.match(r"^---\s*\n(.*?)\n---", card, re.DOTALL)
        self._json({
            "id": repo_id, "author": repo_id.split("/")[0], "sha": commit.sha, "private": repo.private,
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date)),
            "siblings": [{"rfilename": p} for p in sorted(commit.files)], "tags": [], "downloads": 0,
            "cardData": (yaml.safe_load(match.group(1)) or {}) if match else {},
        })  # fmt: skip

    def _entry(self, commit: Commit, path: str) -> dict[str, Any]:
        content = commit.files[path]
        entry = {"type": "file", "oid": blob_oid(content), "size": len(content), "path": path}
        if path in commit.lfs:
            entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content),
                            "pointerSize": LFS_POINTER_SIZE}  # fmt: skip
        return entry

    def _entries(self, commit: Commit, path: str, *, exact: bool = False, recursive: bool = False) -> list[dict[str, Any]]:
        """Files and folders at ``path`` (exact) or under it (direct children, or all if recursive)."""
        path = path.strip("/")
        if exact:
            if path in commit.files:
                return [self._entry(commit, path)]
            is_dir = any(p.startswith(path + "/") for p in commit.files)
            return [{"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}] if is_dir else []
        prefix = f"{path}/" if path else ""
        out: dict[str, dict[str, Any]] = {}
        for name in sorted(commit.files):
            if not name.startswith(prefix):
                continue
            parts = name[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                folder = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    out.setdefault(folder, {"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                            "size": 0, "path": folder})  # fmt: skip
            if recursive or len(parts) == 1:
                out[name] = self._entry(commit, name)
        return list(out.values())

    def _tree(self, commit: Commit, path: str, recursive: bool) -> None:
        entries = self._entries(commit, path, recursive=recursive)
        if path and not entries:
            return self._error(404, "EntryNotFound", f"{path} does not exist")
        self._json(entries)

    def _history(self, repo: Repo, commit: Commit | None) -> list[dict[str, Any]]:
        out = []
        while commit is not None:
            out.append({"id": commit.sha, "title": commit.title, "message": commit.title, "authors": [],
                        "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(commit.date))})  # fmt: skip
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return out

    def _create_branch(self, repo: Repo, branch: str, payload: dict[str, Any]) -> None:
        if branch in repo.branches:
            return self._json({"error": "Reference already exists"}, 409)
        start = repo.commit(payload.get("startingPoint") or "main")
        if start is None:
            return self._error(404, "RevisionNotFound", "Invalid starting point")
        repo.branches[branch] = start.sha
        self._json({})

    def _create_tag(self, repo: Repo, revision: str, payload: dict[str, Any]) -> None:
        commit = repo.commit(revision)
        if commit is None:
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if payload["tag"] in repo.tags or payload["tag"] in repo.branches:
            return self._json({"error": "Reference already exists"}, 409)
        repo.tags[payload["tag"]] = commit.sha
        self._json({})

    def _lfs_batch(self, kind: str, repo_id: str) -> None:
        if not self._may_write(repo_id, kind) or self._repo(kind, repo_id) is None:
            return
        payload = json.loads(self._body())
        host = self.headers["Host"]
        objects = []
        for obj in payload["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.state.lfs_objects:
                entry["actions"] = {"upload": {"href": f"http://{host}/lfs-upload/{obj['oid']}", "header": {}}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")  # fmt: skip

    def _commit(self, kind: str, repo_id: str, repo: Repo, branch: str) -> None:
        lines = [json.loads(line) for line in self._body().decode().splitlines() if line.strip()]
        with self.state.lock:
            head = repo.commit(branch)
            if head is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {branch}")
            header = next(line["value"] for line in lines if line["key"] == "header")
            if header.get("parentCommit") not in (None, head.sha):
                return self._json({"error": "A commit has happened since the parent commit"}, 412)
            files, lfs = dict(head.files), set(head.lfs)
            sent = [line["value"]["path"] for line in lines if line["key"] != "header"]
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                    lfs.discard(value["path"])
                elif key == "lfsFile":
                    if value["oid"] not in self.state.lfs_objects:
                        return self._json({"error": f"LFS object {value['oid']} was never uploaded"}, 422)
                    files[value["path"]] = self.state.lfs_objects[value["oid"]]
                    lfs.add(value["path"])
                elif key in ("deletedFile", "deletedFolder"):
                    gone = [p for p in files if p == value["path"] or p.startswith(value["path"].rstrip("/") + "/")]
                    if not gone:
                        return self._json({"error": f"{value['path']} does not exist"}, 404)
                    for name in gone:
                        files.pop(name)
                        lfs.discard(name)
            commit = self.state.new_commit(repo, branch, header["summary"], files, lfs)
            commit.sent = sent
        prefix = "" if kind == "models" else f"{kind}/"
        url = f"http://{self.headers['Host']}/{prefix}{repo_id}/commit/{commit.sha}"
        self._json({"success": True, "commitOid": commit.sha, "commitUrl": url, "pullRequestUrl": None})

    def _resolve(self, kind: str, repo_id: str, revision: str, path: str) -> None:
        if not self._token_ok(required=False):
            return
        repo = self._repo(kind, repo_id)
        commit = repo and self._commit_at(repo, revision)
        if commit is None:
            return
        if path not in commit.files:
            return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}")
        content = commit.files[path]
        etag = hashlib.sha256(content).hexdigest() if path in commit.lfs else blob_oid(content)
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if path in commit.lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(content))})
        status, body = 200, content
        if (ranged := re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))) and content:
            start = int(ranged.group(1))
            end = min(int(ranged.group(2)) if ranged.group(2) else len(content) - 1, len(content) - 1)
            status, body = 206, content[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        self._send(status, body, headers, content_type="application/octet-stream")


def metadata_errors(data: Any, repo_type: str) -> list[str]:
    """What the Hub's metadata validation refuses in a card, as far as plum's cards go."""
    if data is None:
        return []
    if not isinstance(data, dict):
        return ["README.md metadata must be a mapping"]
    errors = []
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors.append('"tags" must be an array of strings')
    if repo_type == "dataset":
        sizes = data.get("size_categories", [])
        for size in sizes if isinstance(sizes, list) else [sizes]:
            if size not in SIZE_CATEGORIES:
                errors.append(f'"size_categories" must be one of {", ".join(SIZE_CATEGORIES)}, got {size!r}')
        configs = data.get("configs", [])
        names = [c.get("config_name") for c in configs if isinstance(c, dict)]
        if len(names) != len(configs) or None in names or len(set(names)) != len(names):
            errors.append('"configs": each config needs a config_name, and each name once')
        if sum(1 for c in configs if isinstance(c, dict) and c.get("default")) > 1:
            errors.append('"configs": only one config can be the default')
    return errors


class HubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: HubState, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), HubHandler)
        self.state = state

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def start(user: str = "ns", token: str = "hf_local_test_token_0123456789", port: int = 0) -> tuple[HubServer, threading.Thread]:
    """A Hub on a free loopback port, serving from a thread; ``server.shutdown()`` stops it."""
    server = HubServer(HubState(user, token), port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


if __name__ == "__main__":  # python tests/hub/hub_server.py PORT: a Hub to try commands against by hand
    import sys

    hub, worker = start(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(hub.endpoint, flush=True)
    worker.join()
