"""Publishing a stage's dataset folder to the Hugging Face Hub, in one commit, through huggingface_hub.

:func:`check_push_target` runs before a stage's expensive work (a missing or wrong token fails
at once); :func:`push_folder` runs after it: it merges the folder's card into the one already in
the repo, uploads the shards and deletes the repo's older shards of the same configs in the same
commit, so the repo never holds two runs' shards of one config. A failed push leaves the local
folder as it is and says which command retries it.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plum_exec.cards import merge, owned_configs, redact, split_card
from plum_exec.datasets_io import DATA_DIR, folder_configs, folder_files
from plum_exec.errors import PlumError

REPO_TYPE = "dataset"


@dataclass(frozen=True)
class PushTarget:
    """Where ``--push-to-hub`` sends a stage's dataset."""

    repo_id: str
    private: bool = False
    branch: str | None = None

    def retry_command(self, folder: str | Path) -> str:
        """The command that pushes ``folder`` again, exactly as this push would have."""
        args = ["plum", "push", str(folder), self.repo_id]
        args += ["--private"] if self.private else []
        args += ["--hub-branch", self.branch] if self.branch else []
        return shlex.join(args)


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    url: str
    sha: str


@contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Turn huggingface_hub's errors into one-line PlumErrors naming ``what``."""
    from huggingface_hub import errors

    try:
        yield
    except errors.RevisionNotFoundError:
        raise PlumError(f"{what}: no such revision on the Hub") from None
    except errors.GatedRepoError:
        raise PlumError(f"{what}: gated; accept its conditions on the Hub with this token's account") from None
    except errors.RepositoryNotFoundError:
        raise PlumError(f"{what}: no such repo on the Hub, or this token may not read it") from None
    except errors.OfflineModeIsEnabled:
        raise PlumError(f"{what}: needs the Hub, but HF_HUB_OFFLINE is set") from None
    except errors.HfHubHTTPError as exc:
        if getattr(exc.response, "status_code", None) == 401:
            raise PlumError(f"{what}: the Hub rejected the token (HTTP 401); check HF_TOKEN or `hf auth login`") from None
        raise PlumError(f"{what}: the Hub refused ({_status(exc)})") from None
    except OSError as exc:  # connection errors (httpx's are OSErrors underneath, or wrapped)
        raise PlumError(f"{what}: cannot reach the Hub ({_one_line(exc)})") from None


def check_push_target(target: PushTarget) -> None:
    """Fail now, not after hours of sampling, if the push cannot work: no token, a wrong token,
    a repo id that is not ``org/name``, a repo this account may not write."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(target.repo_id)
    except ValueError as exc:
        raise PlumError(f"--push-to-hub {target.repo_id}: {_one_line(exc)}") from None
    if "/" not in target.repo_id:
        raise PlumError(f"--push-to-hub {target.repo_id}: give the namespace too (org/name or user/name)")
    if not get_token():
        raise PlumError("--push-to-hub needs a Hugging Face token: set HF_TOKEN or run `hf auth login`")
    api = HfApi()
    with hub_errors(f"--push-to-hub {target.repo_id}"):
        whoami = api.whoami()
    namespace = target.repo_id.split("/")[0]
    allowed = {whoami.get("name"), *(org.get("name") for org in whoami.get("orgs", []))}
    if namespace not in allowed:
        raise PlumError(
            f"--push-to-hub {target.repo_id}: this token ({whoami.get('name')}) cannot write to "
            f"namespace {namespace!r} (it can: {', '.join(sorted(n for n in allowed if n))})"
        )
    if (reason := _cannot_write(whoami, target.repo_id)) is not None:
        raise PlumError(f"--push-to-hub {target.repo_id}: this token is {reason}; make a token with write access to it")


def _cannot_write(whoami: dict[str, Any], repo_id: str) -> str | None:
    """Why whoami's token may not write ``repo_id`` (None: it may). A ``read`` token never writes;
    a ``fineGrained`` one only where a scope (its user or org, or the repo) grants ``repo.write``.
    Tokens whoami reports no role for (OAuth) are left to the push."""
    token = (whoami.get("auth") or {}).get("accessToken") or {}
    role = token.get("role")
    if role == "read":
        return "a read-only token (whoami: role read)"
    if role != "fineGrained":
        return None
    namespace = repo_id.split("/")[0]
    for scope in (token.get("fineGrained") or {}).get("scoped", []):
        entity = scope.get("entity") or {}
        covers = entity.get("name") == namespace if entity.get("type") in ("user", "org") else (
            entity.get("type") == REPO_TYPE and entity.get("name") == repo_id)
        if covers and "repo.write" in scope.get("permissions", []):
            return None
    return f"a fine-grained token without repo.write on {namespace} (whoami: role fineGrained)"


def push_folder(folder: str | Path, target: PushTarget, *, stage: str, message: str | None = None) -> PushResult:
    """Upload a dataset folder in one commit (card merged, the configs' older shards deleted)."""
    folder = Path(folder)
    files = folder_files(folder)
    if "README.md" not in files:
        raise PlumError(f"{folder}: not a dataset folder (no README.md); nothing pushed")
    try:
        return _commit(folder, files, target, stage, message)
    except (PlumError, OSError, ValueError) as exc:
        detail = exc if isinstance(exc, PlumError) else _one_line(exc)
        raise PlumError(
            f"push to {target.repo_id} failed ({detail}); {folder} is intact; retry: {target.retry_command(folder)}"
        ) from None
    except Exception as exc:  # huggingface_hub's HTTP errors, whatever their class
        raise PlumError(
            f"push to {target.repo_id} failed ({_status(exc)}); {folder} is intact; "
            f"retry: {target.retry_command(folder)}"
        ) from None


def _commit(folder: Path, files: list[str], target: PushTarget, stage: str, message: str | None) -> PushResult:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi()
    with hub_errors(target.repo_id):
        api.create_repo(target.repo_id, repo_type=REPO_TYPE, private=target.private, exist_ok=True)
        if target.branch:
            api.create_branch(target.repo_id, repo_type=REPO_TYPE, branch=target.branch, exist_ok=True)
    remote = api.list_repo_files(target.repo_id, repo_type=REPO_TYPE, revision=target.branch)
    card = merge(_remote_card(api, target, remote), (folder / "README.md").read_text("utf-8"), stage)
    operations: list[CommitOperationAdd | CommitOperationDelete] = [
        CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name)) for name in files if name != "README.md"
    ]
    operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card.encode("utf-8")))
    owned = owned_configs((folder / "README.md").read_text("utf-8"), stage) or folder_configs(folder)
    prefixes = tuple(f"{DATA_DIR}/{config}/" for config in owned)
    operations += [CommitOperationDelete(path_in_repo=name) for name in remote
                   if name.startswith(prefixes) and name not in files]  # fmt: skip
    info = api.create_commit(
        target.repo_id,
        operations,
        repo_type=REPO_TYPE,
        revision=target.branch,
        commit_message=message or f"plum {stage}: {', '.join(owned)}",
    )
    sha = info.oid
    return PushResult(target.repo_id, f"{api.endpoint}/datasets/{target.repo_id}", sha)


def _remote_card(api: object, target: PushTarget, remote: list[str]) -> str | None:
    """The repo's README.md at the target branch, or None."""
    from huggingface_hub import hf_hub_download

    if "README.md" not in remote:
        return None
    path = hf_hub_download(target.repo_id, "README.md", repo_type=REPO_TYPE, revision=target.branch)
    text = Path(path).read_text("utf-8")
    split_card(text)  # a card whose YAML does not parse is refused here, not overwritten
    return text


def print_push(result: PushResult) -> None:
    print(f"pushed {result.repo_id}: {result.url} (commit {result.sha})", flush=True)


def model_revision(model: str) -> dict[str, str]:
    """How a card names a model: a Hub id with the commit in the local cache, or a folder with a
    fingerprint of its config (hashing many GB of weights would cost more than the stage)."""
    import hashlib

    path = Path(model).expanduser()
    if path.is_dir():
        config = path / "config.json"
        digest = hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None
        return {"path": str(path), "config_sha256": digest or "unknown"}
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(model, local_files_only=True, allow_patterns=["config.json"]))
        return {"hub_id": model, "sha": snapshot.name}
    except Exception:  # not in the cache (a server model name, or never downloaded): name it only
        return {"name": redact(model)}


def _status(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    text = _one_line(exc)
    return f"HTTP {code}: {text}" if code and str(code) not in text else text


def _one_line(exc: BaseException) -> str:
    """The message on one line (the Hub's metadata errors come as a title and a list below it)."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return redact(text) if text else type(exc).__name__
