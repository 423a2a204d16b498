"""A pre-started worker: pays Python's start-up and common imports once, then forks one isolated
child per job.

Run as ``python -m plum_exec.sandbox.worker SETTINGS_JSON`` by the pool, directly (process
isolation) or as PID 1 of a bubblewrap sandbox (namespace isolation). Protocol on stdin/stdout:
4-byte big-endian length + payload; jobs arrive pickled (from the trusted parent), results leave
as JSON (nothing a candidate produced is ever unpickled by the parent).

Workers come in pairs, one per role (``settings["role"]``):
- ``program``: forks the child that loads the candidate program and answers calls
  (``harness.serve``). It never receives test code or expected values, so no child it forks
  can find them in memory it inherited.
- ``judge``: forks the child that runs the tests (``judge.run``) and never runs candidate code.
  Per job it makes the two pipes the children talk through and hands the program's ends to its
  partner over a Unix socket (``settings["channel"]``).

The worker starts with a clean environment (see ``environment``) and is not dumpable. Per job
each child gets its own session, rlimits, a private job folder as cwd/HOME/TMPDIR, stdin from
/dev/null, stdout/stderr into capped files, a dedicated uid when the worker is root (the two
workers of a pair use different uids), seccomp and Landlock at process isolation (see
``confinement``), and dies with the worker. The worker enforces the wall clock from outside and
then kills every process the job left behind, including ones that started their own session:
- as PID 1 of a PID namespace: ``kill(-1)`` reaches everything else in the namespace;
- otherwise as a child subreaper (orphans are re-parented to the worker) plus, when root, a
  ``kill(-1)`` issued as the job's dedicated uid.
Process isolation as root also gives each job an empty network namespace and removes files its
uid left in world-writable folders; as an ordinary user seccomp and Landlock stand in for them.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import json
import os
import pickle
import resource
import secrets
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from plum_exec.sandbox import harness, judge, paths
from plum_exec.sandbox.confinement import Confinement, probe
from plum_exec.sandbox.environment import enter_job_folder
from plum_exec.sandbox.protocol import read_message, write_frame, write_message

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE, MNT_DETACH = 4096, 16384, 1 << 18, 2
RECORD_BYTES_LIMIT = 64 * 1024 * 1024
JUDGE_JOBS_PER_CHILD = 1000  # then a fresh judge child: whatever its caches grew to is let go
WORKER_CHILD_START = 30.0  # seconds a judge child may take to say it is confined
SCRUB_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # world-writable places a dedicated uid can write
_libc = ctypes.CDLL(None, use_errno=True)


class Worker:
    def __init__(self, settings: dict[str, Any]):
        self.s = settings
        self.is_pid1 = os.getpid() == 1
        self.is_root = os.geteuid() == 0
        self.uid = settings["uid"]
        self.workdir = settings["workdir"]
        self.channel = socket.socket(fileno=settings["channel"])  # to the partner worker
        self.nproc_limit = self._nproc_limit()
        self.judge: _JudgeChild | None = None
        if not self.is_pid1:
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        self.confinement = self._confinement() if settings["confine"] else None
        # As root outside a PID namespace, each job gets an empty network namespace and its uid is
        # swept after it: a kill(-1) as that uid (a fork) and a scan of the world-writable folders.
        # Each is redundant where the confinement already contains the same (the ordinary user's
        # level relies on it): seccomp allows no socket but AF_UNIX, and no setsid/setpgid, so the
        # group kill and the subreaper's reaping reach every process of the job; Landlock makes
        # nothing writable outside the job folder, and from ABI 6 scopes abstract unix sockets.
        # Together ~5 ms of CPU per job, and a network namespace torn down in the kernel's worker.
        confined = self.confinement.in_force() if self.confinement else {}
        seccomp, abi, swept = confined.get("seccomp", False), confined.get("landlock_abi", 0), self.is_root and not self.is_pid1
        self.kill_uid, self.scrub_uid = swept and not seccomp, swept and not abi
        self.private_network = swept and not (seccomp and abi >= 6)

    def _confinement(self) -> Confinement:
        """Readable: everything but the hidden paths, /proc and the other jobs' folders; plus
        what Python needs below a hidden path."""
        readable = paths.readable_roots(self.s["hidden"], ("/proc", self.workdir))
        return Confinement([*readable, *self.s["needed"]], [os.getpid(), os.getppid()])

    def check_confinement(self) -> str | None:
        """Why the confinement cannot be applied here (None: it can, or none is asked for)."""
        if self.confinement is None:
            return None
        folder = tempfile.mkdtemp(dir=self.workdir)
        try:
            return probe(self.confinement, folder)
        finally:
            _remove_tree(folder)

    def _nproc_limit(self) -> int:
        """RLIMIT_NPROC counts all processes of a uid: offset it by what the user already runs."""
        if self.is_root:
            return self.s["max_processes"]
        mine = 0
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError):
                if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == os.getuid():
                    mine += 1
        return mine + self.s["max_processes"]

    def run_job(self, job: dict[str, Any]) -> dict[str, Any]:
        return self._run_program(job) if self.s["role"] == "program" else self._run_judge(job)

    def _run_judge(self, job: dict[str, Any]) -> dict[str, Any]:
        started = time.monotonic()
        child = self._judge_child()
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        socket.send_fds(self.channel, [job["id"].encode()], [requests_r, replies_w])
        os.close(requests_r)
        os.close(replies_w)
        for fd in (requests_w, replies_r):
            os.set_blocking(fd, False)  # the judge reads and writes with deadlines
        child.send(job, [requests_w, replies_r])
        os.close(requests_w)  # the judge's copies close when it is done: the program's worker sees it
        os.close(replies_r)
        raw, done, timed_out = child.collect(job["id"], started + job["wall_clock"])
        if not done or child.served >= JUDGE_JOBS_PER_CHILD:
            self._end_judge_child()
        return {"records": _parse_records(raw), "exit_code": None, "timed_out": timed_out, "duration": time.monotonic() - started}

    def _judge_child(self) -> _JudgeChild:
        """The judge child serving this worker's jobs, forked (and confined) when there is none
        or the last one ended between jobs."""
        if self.judge is not None and not self.judge.alive():
            self._end_judge_child()
        if self.judge is None:
            jobs_r, jobs_w = os.pipe()
            control, control_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            records_r, records_w = os.pipe()
            pid, folder = self._fork({"wall_clock": None}, [jobs_r, control_child.fileno(), records_w], judge.serve)
            for fd in (jobs_r, records_w):
                os.close(fd)
            control_child.close()
            if not _was_confined(self.confined_read, wait=WORKER_CHILD_START):
                raise SystemExit("sandbox worker: the judge could not be confined")  # the pool retries
            self.judge = _JudgeChild(pid, folder, jobs_w, control, records_r)
        return self.judge

    def _end_judge_child(self) -> None:
        child, self.judge = self.judge, None
        if child is not None:
            child.close()
            self._kill_leftovers(child.pid)
            _remove_tree(child.folder)

    def _run_program(self, job: dict[str, Any]) -> dict[str, Any]:
        message, fds, _, _ = socket.recv_fds(self.channel, 256, 2)
        if message != job["id"].encode() or len(fds) != 2:
            raise RuntimeError("judge worker out of step")  # the pool replaces both workers
        requests_r, replies_w = fds
        started = time.monotonic()
        pid, jobdir = self._fork(job, [requests_r, replies_w], harness.serve)
        os.close(replies_w)  # the judge sees the end of the replies when the program's process ends
        # The judge closing its end of the requests means it is done: stop the program then.
        exit_code, timed_out = self._supervise(pid, started + job["wall_clock"], requests_r)
        os.close(requests_r)
        return self._finish(pid, jobdir, exit_code, timed_out, started)

    def _fork(self, job: dict[str, Any], fds: list[int], body: Callable[..., None]) -> tuple[int, str]:
        jobdir = os.path.join(self.workdir, f"job-{secrets.token_hex(6)}")
        os.mkdir(jobdir, 0o700)
        if self.is_root:
            os.chown(jobdir, self.uid, self.uid)
        confined_read, confined_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            self._child(job, jobdir, fds, body, confined_write)
        os.close(confined_write)
        self.confined_read = confined_read
        return pid, jobdir

    def _finish(self, pid: int, jobdir: str, exit_code: int | None, timed_out: bool, started: float) -> dict[str, Any]:
        self._kill_leftovers(pid)
        if not _was_confined(self.confined_read):
            # Not the program's doing (it never started): end the worker so the pool retries the
            # job and reports infra_error if it happens again.
            raise SystemExit("sandbox worker: the child could not be confined")
        result: dict[str, Any] = {"exit_code": exit_code, "timed_out": timed_out, "duration": time.monotonic() - started}
        if self.s["role"] == "program":  # what the tests print is not the program's output
            for name in ("stdout", "stderr"):
                result[name] = _head(os.path.join(jobdir, name), self.s["output_limit"])
        _remove_tree(jobdir)
        if self.scrub_uid:
            _scrub_files_of(self.uid)
        return result

    def _child(self, job: dict[str, Any], jobdir: str, fds: list[int], body: Callable[..., None], confined_fd: int) -> None:
        try:
            os.setsid()
            os.chdir(jobdir)
            _redirect_stdio(jobdir)
            enter_job_folder(jobdir)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead
            if self.private_network:
                _libc.unshare(CLONE_NEWNET)
            if self.is_root:
                os.setgroups([])
                os.setgid(self.uid)
                os.setuid(self.uid)
            # The judge holds the tests: nothing of its uid may trace it or read /proc/PID/mem.
            # A program may read its own /proc/self (it holds nothing worth hiding).
            _libc.prctl(PR_SET_DUMPABLE, int(self.s["role"] == "program"), 0, 0, 0)
            if self.confinement is not None:  # after unshare and setuid, which seccomp forbids
                self.confinement.apply(jobdir)
            os.write(confined_fd, b"1")
            # Closes the worker's descriptors, the confinement's ones included.
            _close_fds_except(fds)
            self._limit_resources(job)  # after the descriptors it needed are closed (RLIMIT_NOFILE)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after setuid, which clears it
            body(job, *fds)
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(BaseException):
                    stream.flush()
            os._exit(0)

    def _limit_resources(self, job: dict[str, Any]) -> None:
        """A job's limits; a judge child serving many jobs has no CPU limit of its own (its
        worker stops it at each job's wall clock)."""
        memory = self.s["memory_mb"] * 1024 * 1024
        limits = {
            resource.RLIMIT_AS: memory,
            resource.RLIMIT_NPROC: self.nproc_limit,
            resource.RLIMIT_FSIZE: self.s["max_file_mb"] * 1024 * 1024,
            resource.RLIMIT_NOFILE: self.s["max_open_files"],
            resource.RLIMIT_CORE: 0,
        }
        if job["wall_clock"] is not None:
            limits[resource.RLIMIT_CPU] = int(job["wall_clock"]) + 1
        for kind, value in limits.items():
            _, hard = resource.getrlimit(kind)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))

    def _supervise(self, pid: int, deadline: float, hangup: int) -> tuple[int | None, bool]:
        """Wait until the program's child exits, ``hangup`` loses its last writer (the judge is
        done with the job) or the wall clock runs out; kill and reap the child."""
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(hangup, 0)  # POLLHUP only: the data is not ours to read
        timed_out = False
        try:
            if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
                timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(pidfd)
        return os.waitstatus_to_exitcode(status), timed_out

    def _kill_leftovers(self, pid: int) -> None:
        """Kill every process the job started, whatever session or process group it moved to."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if self.is_pid1:
            with contextlib.suppress(ProcessLookupError):
                os.kill(-1, signal.SIGKILL)
        elif self.kill_uid:
            _kill_all_of_uid(self.uid)
        for _ in range(1000):  # orphans re-parent to us (subreaper / PID 1): kill and reap them
            children = _children_of(os.getpid())
            _reap()
            if not children:
                return
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            time.sleep(0.001)


class _JudgeChild:
    """A judge child that serves job after job (``judge.serve``): one fork, one confinement and
    one set of page copies per worker instead of per job. Only the trusted worker talks to it:
    each job arrives on ``jobs`` with the two pipe ends to that job's program on ``control``, and
    its records come back on ``records`` followed by a ``done`` line naming the job."""

    def __init__(self, pid: int, folder: str, jobs: int, control: socket.socket, records: int):
        self.pid, self.folder, self.jobs, self.control, self.records = pid, folder, jobs, control, records
        self.pidfd = os.pidfd_open(pid)
        self.buffer = bytearray()
        self.served = 0

    def alive(self) -> bool:
        return not _readable(self.pidfd, 0)

    def send(self, job: dict[str, Any], fds: list[int]) -> None:
        socket.send_fds(self.control, [job["id"].encode()], fds)
        with contextlib.suppress(BrokenPipeError):  # it died: collect finds it gone
            write_frame(self.jobs, pickle.dumps(job))
        self.served += 1

    def collect(self, job_id: str, deadline: float) -> tuple[bytes, bool, bool]:
        """(the job's records, whether the judge finished it, whether the wall clock ran out)."""
        marker = json.dumps({"event": "done", "id": job_id}).encode() + b"\n"
        poller = select.poll()
        poller.register(self.records, select.POLLIN)
        poller.register(self.pidfd, select.POLLIN)
        searched = 0
        while True:
            found = self.buffer.find(marker, max(0, searched - len(marker)))
            if found >= 0:
                raw = bytes(self.buffer[:found])
                del self.buffer[: found + len(marker)]
                return raw, True, False
            searched = len(self.buffer)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(self.buffer) > RECORD_BYTES_LIMIT:  # a runaway judge or a flood
                return bytes(self.buffer), False, True
            ready = [fd for fd, _ in poller.poll(remaining * 1000)]
            if self.records in ready:
                data = os.read(self.records, 65536)
                self.buffer += data
                if data:
                    continue
            if ready and (self.pidfd in ready or self.records in ready):
                self.buffer += _drain(self.records)
                if self.buffer.find(marker) < 0:
                    return bytes(self.buffer), False, False

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        for fd in (self.jobs, self.records, self.pidfd):
            os.close(fd)
        self.control.close()


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    if _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def private_mounts(workdir: str, blocked: dict[str, list[str]], tmpfs_bytes: int) -> None:
    """Process isolation as root: in a private mount namespace of this worker, put the job
    folders on a size-capped tmpfs, and hide each hidden folder (homes, credentials) and each
    folder the job uid cannot enter behind a 0755 tmpfs with what Python needs bound back
    (bubblewrap does both in namespace isolation)."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", workdir, "tmpfs", 0, f"mode=0711,size={tmpfs_bytes}")
    staging = tempfile.mkdtemp(dir=workdir)
    old_umask = os.umask(0o022)
    try:
        for ancestor, needed in blocked.items():
            if not os.path.isdir(ancestor):  # a secret file: show /dev/null in its place
                _mount(os.devnull, ancestor, None, MS_BIND)
                continue
            staged = []
            for path in needed:
                target = tempfile.mkdtemp(dir=staging)
                _mount(path, target, None, MS_BIND | MS_REC)
                staged.append((target, path))
            _mount("tmpfs", ancestor, "tmpfs", 0, "mode=0755")
            for target, path in staged:
                os.makedirs(path, exist_ok=True)
                _mount(target, path, None, MS_BIND | MS_REC)
                _libc.umount2(target.encode(), MNT_DETACH)
    finally:
        os.umask(old_umask)
        shutil.rmtree(staging, ignore_errors=True)
    if any(workdir.startswith(ancestor + "/") for ancestor in blocked):  # covered just now
        os.makedirs(workdir, exist_ok=True)
        _mount("tmpfs", workdir, "tmpfs", 0, f"mode=0711,size={tmpfs_bytes}")


def _kill_all_of_uid(uid: int) -> None:
    """``kill(-1)`` as ``uid`` signals exactly that uid's processes (and not the killer itself)."""
    killer = os.fork()
    if killer == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for _ in range(3):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(killer, 0)


def _children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return _children_by_scan(pid)


def _children_by_scan(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    children.append(int(entry))
    return children


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _redirect_stdio(jobdir: str) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        out = os.open(os.path.join(jobdir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    os.close(devnull)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process ends with the job
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115


def _readable(fd: int, seconds: float) -> bool:
    """Whether ``fd`` becomes readable within ``seconds``. poll, not select: a worker holds an fd
    per Landlock rule, and select() refuses descriptors past 1,023."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


def _was_confined(fd: int, wait: float = 0.0) -> bool:
    """The child writes one byte once it is confined, before the program can run (``wait``:
    seconds to wait for it, for a child that goes on running)."""
    if wait:
        _readable(fd, wait)
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1) == b"1"
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    with contextlib.suppress(BlockingIOError, OSError):
        while len(chunks) < 1024:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks)


def _parse_records(raw: bytes) -> list[dict[str, Any]]:
    """The judge's records (a line cut short by its death is dropped)."""
    records = []
    for line in raw.split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _close_fds_except(keep: list[int]) -> None:
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _head(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _remove_tree(path: str) -> None:
    """Remove a job folder however deep the program nested it. shutil.rmtree recurses (Python
    3.11) and walks paths, so 1,500 nested folders would end the worker and turn the program's
    verdict into infra_error; here each folder's subfolders move up into the top folder, one
    level at a time: no recursion, two descriptors, names of one component."""
    try:
        top = _open_folder(path)
    except OSError:
        return
    try:
        while _empty_one_level(top):
            pass
    finally:
        os.close(top)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _open_folder(name: str, parent: int | None = None) -> int:
    with contextlib.suppress(OSError):  # a program may have taken its own rights away
        os.chmod(name, 0o700, dir_fd=parent)
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)


def _empty_one_level(top: int) -> bool:
    """Remove the files in ``top`` and in its folders, moving their folders up into ``top``;
    whether anything was removed (a pass that removes nothing ends the loop)."""
    progress = False
    for entry in list(os.scandir(top)):
        with contextlib.suppress(OSError):
            if not entry.is_dir(follow_symlinks=False):
                os.unlink(entry.name, dir_fd=top)
            else:
                folder = _open_folder(entry.name, top)
                try:
                    for inner in list(os.scandir(folder)):
                        with contextlib.suppress(OSError):
                            if inner.is_dir(follow_symlinks=False):
                                os.rename(inner.name, f"up-{secrets.token_hex(8)}", src_dir_fd=folder, dst_dir_fd=top)
                            else:
                                os.unlink(inner.name, dir_fd=folder)
                finally:
                    os.close(folder)
                os.rmdir(entry.name, dir_fd=top)
            progress = True
    return progress


def _scrub_files_of(uid: int) -> None:
    """Process isolation as root: remove what the job's uid left in world-writable folders."""
    for folder in SCRUB_DIRS:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_uid != uid:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        _remove_tree(entry.path)
                    else:
                        os.unlink(entry.path)


def main() -> None:
    settings = json.loads(sys.argv[1])
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    # Keep the protocol channel clean: nothing else may write to fd 1.
    os.dup2(2, 1)
    # A job's process running as our uid (ordinary users) must not reach our memory or fds.
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if os.getpid() != 1:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool decides when workers stop
    for module in settings["preload"]:
        with contextlib.suppress(Exception):
            importlib.import_module(module)
    if os.geteuid() == 0 and os.getpid() != 1:
        private_mounts(settings["workdir"], settings["expose"], settings["tmpfs_bytes"])
    worker = Worker(settings)
    # Children must not run the cyclic GC over everything inherited: it writes to every object
    # and turns each fork's shared pages into copies (gc.freeze cuts a job from ~10 ms to ~3 ms).
    gc.collect()
    gc.freeze()
    ready = {"ready": True, "uid": os.geteuid(), "confinement": worker.confinement.in_force() if worker.confinement else None}
    failure = worker.check_confinement()
    if failure:
        ready = {"ready": False, "error": f"process confinement failed: {failure}"}
    elif settings["role"] == "judge":
        worker._judge_child()  # ready before the first job, as the worker itself is
    write_message(proto_out, json.dumps(ready).encode())
    if failure:
        return
    while True:
        message = read_message(proto_in)
        if message is None:
            return
        job = pickle.loads(message)
        write_message(proto_out, json.dumps(worker.run_job(job)).encode())


if __name__ == "__main__":
    main()
