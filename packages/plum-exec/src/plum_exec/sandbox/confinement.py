"""Process isolation without namespaces: seccomp and Landlock, set up in the forked child.

Both need no privileges (only ``no_new_privs``) and stay in force for everything the program
starts. The worker prepares them once (the seccomp filter, the folders a job may read, opened as
``O_PATH`` descriptors); each child then installs them in microseconds, right before the program.

- seccomp (libseccomp through ``pyseccomp``): no sockets but ``AF_UNIX``, no io_uring (it opens
  sockets without the ``socket`` call), no ``kill(-1)`` and no signal or pidfd to the worker or
  the pool by pid or group, no new session or process group (the wall-clock kill of the group
  reaches everything), no ptrace or reading/writing another process's memory, no new namespaces,
  no kernel keyrings, no bpf/perf/userfaultfd.
- Landlock (Linux 5.13+): the file system is read-only, writable only in the job folder; homes,
  credential folders, other jobs' folders and ``/proc`` (other processes' ``cmdline``/``environ``)
  unreadable; ABI 4+ no TCP bind/connect; ABI 6+ signals and abstract unix sockets scoped to the
  job's own processes. Landlock's ptrace rule keeps ``/proc/<pid>/environ`` and ``mem`` of every
  process outside the job closed.

Landlock goes through its three system calls with ctypes: the ``landlock`` package on PyPI
(1.0.0.dev5, a pre-release) knows only the file-system rights of ABI 1-5, so it cannot restrict
TCP (ABI 4) or scope signals (ABI 6), which are what keep ``kill(-1)`` and 127.0.0.1 away.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
# Looked up once here: a first lookup (dlsym) in each forked child would cost ~140 us.
_prctl, _syscall = _libc.prctl, _libc.syscall
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_TRUNCATE = 1 << 14
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2
# Files in /proc a program may read besides its own /proc/<pid> (Python and numpy ask for these).
PROC_FILES = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat")
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080)
LOW_32_BITS = 0xFFFFFFFF
AF_UNIX = 1  # (not importing socket keeps the worker, and so every fork, smaller)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct landlock_path_beneath_attr is packed (12 bytes)
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or it is disabled at boot)."""
    version = _syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def seccomp_unavailable_reason() -> str | None:
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, RuntimeError) as exc:  # RuntimeError: libseccomp.so.2 is missing
        return f"seccomp unavailable ({exc}; pip install pyseccomp, apt-get install libseccomp2)"
    return None


def describe(abi: int, seccomp: bool) -> list[str]:
    """Names of the mechanisms in force, e.g. ``["seccomp", "landlock (ABI 7)"]``."""
    return [*(["seccomp"] if seccomp else []), *([f"landlock (ABI {abi})"] if abi else [])]


def uncontained(abi: int, seccomp: bool, is_root: bool) -> list[str]:
    """What a program can still reach at the process level with these mechanisms (empty: nothing
    the hostile suite tries). As root, the job's dedicated uid, network namespace and private
    mounts already cover sockets, signals, ptrace, homes and files."""
    gaps = []
    if not seccomp and not is_root:
        gaps.append("sockets (127.0.0.1 included), ptrace, new sessions that escape the group kill "
                    "(pip install pyseccomp; apt-get install libseccomp2)")
    if not abi:
        gaps.append("other processes' command lines in /proc (needs Landlock: Linux 5.13+)" if is_root else
                    "writing the user's files, reading homes, credentials and the user's processes in /proc "
                    "(needs Landlock: Linux 5.13+)")
    elif abi < 6 and not is_root:
        gaps.append("signals by pid to the user's other processes (needs Landlock ABI 6: Linux 6.12+)")
    return gaps


class Confinement:
    """Prepared in the worker (filter compiled, folders opened, structures built), applied in
    each child by ``apply(jobdir)`` with a handful of system calls: work done in a freshly forked
    child costs page copies, so the child does as little of it as possible."""

    def __init__(self, readable: list[str], protected_pids: list[int], abi: int | None = None):
        """``abi``: the Landlock ABI to build for, at most the kernel's (default: the kernel's);
        tests lower it to exercise older kernels' rights and structure sizes on a newer one."""
        self.abi = landlock_abi() if abi is None else min(abi, landlock_abi())
        self.seccomp = _compiled(_seccomp_filter(protected_pids)) if seccomp_unavailable_reason() is None else None
        self.fs_rights = _fs_rights(self.abi)
        self.ruleset_attr, self.ruleset_size = _ruleset_attr(self.abi, self.fs_rights)
        self.static_rules = [_rule(fd) for fd in map(_open_path, [*readable, *PROC_FILES]) if fd is not None] if self.abi else []
        devnull = _open_path(os.devnull) if self.abi else None
        if devnull is not None:
            self.static_rules.append(_PathBeneathAttr(FS_READ_FILE | FS_WRITE_FILE | (self.fs_rights & FS_TRUNCATE), devnull))

    def in_force(self) -> dict[str, Any]:
        """What this worker confines each child with, as the pool records it."""
        return {"landlock_abi": self.abi, "seccomp": self.seccomp is not None}

    def apply(self, jobdir: str) -> None:
        """Confine this process (the forked child) for good. Raises OSError if the kernel refuses."""
        if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            _raise("prctl(PR_SET_NO_NEW_PRIVS)")
        if self.abi:
            self._restrict_files_network_and_signals(jobdir)
        if self.seccomp is not None and _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self.seccomp[0]), 0, 0) != 0:
            _raise("prctl(PR_SET_SECCOMP)")

    def _restrict_files_network_and_signals(self, jobdir: str) -> None:
        ruleset = _syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(self.ruleset_attr), ctypes.c_size_t(self.ruleset_size), 0)
        if ruleset < 0:
            _raise("landlock_create_ruleset")
        own = [os.open(jobdir, os.O_PATH | os.O_DIRECTORY), os.open(f"/proc/{os.getpid()}", os.O_PATH | os.O_DIRECTORY)]
        try:
            for rule in self.static_rules:
                _add_rule(ruleset, rule)
            _add_rule(ruleset, _PathBeneathAttr(self.fs_rights, own[0]))
            _add_rule(ruleset, _PathBeneathAttr(FS_READ, own[1]))
            if _syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) != 0:
                _raise("landlock_restrict_self")
        finally:
            for fd in (ruleset, *own):
                os.close(fd)


def _ruleset_attr(abi: int, fs_rights: int) -> tuple[_RulesetAttr, int]:
    """Everything handled is denied unless a rule grants it: TCP (ABI 4+) gets no rule at all."""
    if abi >= 6:
        return _RulesetAttr(fs_rights, NET_BIND_TCP | NET_CONNECT_TCP, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL), 24
    if abi >= 4:
        return _RulesetAttr(fs_rights, NET_BIND_TCP | NET_CONNECT_TCP, 0), 16
    return _RulesetAttr(fs_rights, 0, 0), 8


def _rule(fd: int) -> _PathBeneathAttr:
    """Read-only access beneath a folder (or to a file), through a descriptor held by the worker."""
    return _PathBeneathAttr(FS_READ if stat.S_ISDIR(os.fstat(fd).st_mode) else FS_EXECUTE | FS_READ_FILE, fd)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _compiled(rules: Any) -> tuple[_SockFprog, ctypes.Array[ctypes.c_char]]:
    """libseccomp's BPF program for ``rules``, ready for ``prctl(PR_SET_SECCOMP)`` (the buffer is
    returned too: it must live as long as the program that points at it)."""
    fd = os.memfd_create("seccomp-bpf")
    try:
        with open(fd, "wb", closefd=False) as sink:
            rules.export_bpf(sink)
        program = os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)
    buffer = ctypes.create_string_buffer(program, len(program))
    return _SockFprog(len(program) // 8, ctypes.addressof(buffer)), buffer


def _fs_rights(abi: int) -> int:
    """Every file-system right the kernel's ABI knows (all handled: what no rule grants is denied)."""
    highest_bit = {1: 12, 2: 13, 3: 14, 4: 14}.get(abi, 15)
    return (1 << (highest_bit + 1)) - 1


def _add_rule(ruleset: int, rule: _PathBeneathAttr) -> None:
    if _syscall(SYS_LANDLOCK_ADD_RULE, ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
        _raise("landlock_add_rule")


def _open_path(path: str) -> int | None:
    try:
        return os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None


def _raise(call: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{call}: {os.strerror(code)}")


def _seccomp_filter(protected_pids: list[int]) -> Any:
    """The filter: allow everything except the calls and arguments listed here (default allow
    keeps every ordinary program working; the denials are what reaches outside the job)."""
    import pyseccomp as sc

    deny = sc.ERRNO(errno.EPERM)
    rules = sc.SyscallFilter(sc.ALLOW)
    rules.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, AF_UNIX))
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open", "userfaultfd"):
        rules.add_rule(sc.ERRNO(errno.ENOSYS), call)
    for call in ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "setsid", "setpgid",
                 "unshare", "setns", "keyctl", "add_key", "request_key"):
        rules.add_rule(deny, call)
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # its flags sit in memory seccomp cannot read: libc falls back to clone
    for flag in NAMESPACE_FLAGS:
        rules.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    # pid_t arguments are 32 bits wide: compare the low half so sign extension cannot slip by.
    for target in (-1, *protected_pids, *(-os.getpgid(pid) for pid in protected_pids if _alive(pid))):
        for call in ("kill", "rt_sigqueueinfo", "pidfd_open"):
            rules.add_rule(deny, call, sc.Arg(0, sc.MASKED_EQ, LOW_32_BITS, target & LOW_32_BITS))
    for pid in protected_pids:
        rules.add_rule(deny, "tgkill", sc.Arg(0, sc.MASKED_EQ, LOW_32_BITS, pid & LOW_32_BITS))
    return rules


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        os.getpgid(pid)
        return True
    return False


def probe(confinement: Confinement, folder: str) -> str | None:
    """Apply the confinement in a throw-away child: the reason it failed, or None."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            confinement.apply(folder)
            os.write(write_fd, b"ok")
        except BaseException as exc:  # noqa: BLE001 - reported to the worker
            os.write(write_fd, str(exc).encode()[:500])
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        answer = fh.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return None if answer == "ok" else answer or "the confinement probe died"
