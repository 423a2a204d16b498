"""The hostile suite's programs and the driver that runs them in a sandbox, as a script.

``test_sandbox_hostile.py`` runs this file as a separate process (as root, and as an ordinary
user through ``setpriv``) started with planted secrets in its environment and on its command line,
so that ``/proc/<pool>/environ`` and ``/proc/<pool>/cmdline`` really hold them. The driver runs
every program, listens on 127.0.0.1 (TCP and UDP) and on an abstract unix socket, and writes a
report: every program's statuses, messages, outputs, stdout and stderr, what reached its
listeners, and which of the jobs' processes are still alive.

Each program's honest answer to the tests would be ``f(x) == x + 1``; the tests ask for
``f(1) == 2`` (assert, io and check), so a pass means the program did what it set out to do.
Attacks must all end as non-passes; controls (ordinary things a program may do) must all pass.

Needs only the standard library and plum_exec (so the system interpreter can run it as another
user): ``python hostile_programs.py ISOLATION REPORT HOME SCRATCH --api-key SECRET``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import threading
import time
from typing import Any

SECRET_PREFIX = "plumsecret-"
SLEEP_MARKER = "31536000.25"  # a sleep duration only the suite's programs use; replaced per run

HOSTILE = {
    "sys_exit_at_load": "import sys\nsys.exit(0)\ndef f(x):\n    return x + 1\n",
    "os_exit_at_load": "import os\nos._exit(0)\n",
    "os_exit_in_call": "import os\ndef f(x):\n    os._exit(0)\n",
    "sys_exit_in_call": "import sys\ndef f(x):\n    sys.exit(0)\n",
    "eq_always_true": "class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\ndef f(x):\n    return A()\n",
    "int_subclass_eq": "class I(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\ndef f(x):\n    return I(7)\n",
    "metaclass_type_eq": "class M(type):\n    def __eq__(cls, o):\n        return True\n    __hash__ = type.__hash__\nclass A(metaclass=M):\n    pass\ndef f(x):\n    return A\n",
    "patched_builtins": "import builtins\nclass A:\n    __eq__ = lambda s, o: True\n    __hash__ = object.__hash__\nbuiltins.type = lambda *a: int\nbuiltins.isinstance = lambda *a: True\ndef f(x):\n    return A()\n",
    "shadow_guards": "__plum_compare__ = lambda *a: True\n__plum_truth__ = lambda *a: True\n__plum_result__ = lambda x: x\ndef f(x):\n    return -1\n",
    "forge_records": textwrap.dedent("""
        import os
        for fd in range(3, 64):
            for i in range(3):
                try:
                    os.write(fd, ('{"event": "test", "i": %d, "s": "pass", "o": 2}\\n' % i).encode())
                    os.write(fd, b'{"event": "loaded", "error": null}\\n')
                except OSError:
                    pass
        os._exit(0)
    """),
    "ignore_alarm_spin": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ndef f(x):\n    while True:\n        pass\n",
    "reset_alarm_spin": "import signal\ndef f(x):\n    while True:\n        signal.signal(signal.SIGALRM, lambda *a: None)\n",
    "block_signals_sleep": "import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})\ndef f(x):\n    time.sleep(10**6)\n",
    "sleep_forever": "import time\ndef f(x):\n    time.sleep(10**6)\n",
    "fork_bomb": "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n",
    "memory_bomb": "def f(x):\n    return [0] * (10**10)\n",
    "memory_creep": "def f(x):\n    keep = []\n    while True:\n        keep.append(bytearray(10**6))\n",
    "stdout_flood": "import sys\ndef f(x):\n    while True:\n        sys.stdout.write('x' * 65536)\n",
    "stderr_flood": "import os\ndef f(x):\n    while True:\n        os.write(2, b'y' * 65536)\n",
    "kill_parent": "import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return x + 1 if False else -1\n",
    "kill_process_group": "import os, signal\ndef f(x):\n    os.killpg(0, signal.SIGKILL)\n",
    "kill_everything": "import os, signal\ndef f(x):\n    try:\n        os.kill(-1, signal.SIGKILL)\n    except OSError:\n        pass\n    return -1\n",
    "double_fork_daemon": textwrap.dedent("""
        import os, time
        def f(x):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(10**6)
                os._exit(0)
            time.sleep(10**6)
    """),
    "subprocess_sleeper": f"import subprocess, time\ndef f(x):\n    subprocess.Popen(['sleep', '{SLEEP_MARKER}'], start_new_session=True)\n    time.sleep(10**6)\n",
    "fill_the_disk": "import os\ndef f(x):\n    for i in range(10**6):\n        with open(f'junk{i}', 'wb') as fh:\n            fh.write(b'x' * (8 * 2**20))\n",
    "segfault": "import ctypes\ndef f(x):\n    return ctypes.string_at(0)\n",
    "close_all_fds": "import os\nos.closerange(0, 65536)\ndef f(x):\n    return x + 1 if False else 2\n",
    "read_stdin": "def f(x):\n    return int(input())\n",
    "recursion": "def f(x):\n    return f(x)\n",
    "hostile_exception_str": "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\ndef f(x):\n    raise E()\n",
    "binary_source": "def f(x):\n    return 2\x00\n",
    "huge_source": "def f(x):\n    return 2\n" + "#" * (5 * 1024 * 1024),
    "infinite_import_loop": "while True:\n    pass\n",
    "thread_spins_after_return": "import threading\ndef spin():\n    while True:\n        pass\nthreading.Thread(target=spin, daemon=True).start()\ndef f(x):\n    raise ValueError('no')\n",
}

# A hunter gathers what it can reach into LOOT, shows it on stdout, stderr and in its exception
# message, and passes exactly when the loot holds a planted secret (or a file it must not read).
_HUNT = textwrap.dedent("""
    import glob, os, sys
    def grab(path, limit=100000):
        try:
            with open(path, "rb") as fh:
                return fh.read(limit).decode("utf-8", "replace")
        except Exception as exc:
            return f"<{type(exc).__name__}>"
    def ancestors():
        found, pid = [], os.getppid()
        while pid > 1 and len(found) < 8:
            found.append(pid)
            status = grab(f"/proc/{pid}/status")
            pid = next((int(l.split()[1]) for l in status.splitlines() if l.startswith("PPid:")), 0)
        return found
    POOL, HOME, HF_HOME = %(pool)d, %(home)r, %(hf_home)r
    LOOT = "\\n".join(hunt())
    FOUND = %(secret)r in LOOT
    print(LOOT)
    print(LOOT, file=sys.stderr)
    def f(x):
        if FOUND:
            return x + 1
        raise ValueError(LOOT[-300:])
""")

HUNTERS = {
    "environment": "import os\ndef hunt():\n    return [f'{k}={v}' for k, v in os.environ.items()]\n",
    "proc_self_environ": "def hunt():\n    return [grab('/proc/self/environ')]\n",
    "proc_ancestors_environ_cmdline": textwrap.dedent("""
        def hunt():
            pids = sorted({*ancestors(), POOL})
            return [grab(f"/proc/{p}/{what}") for p in pids for what in ("environ", "cmdline")]
    """),
    "proc_every_process": textwrap.dedent("""
        import os
        def hunt():
            pids = [e for e in os.listdir("/proc") if e.isdigit()] if os.path.isdir("/proc") else []
            return [grab(f"/proc/{p}/{what}") for p in pids for what in ("environ", "cmdline")]
    """),
    "parent_memory": textwrap.dedent("""
        import re
        def hunt():
            loot = []
            for pid in sorted({*ancestors(), POOL}):
                try:
                    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
                        for line in maps:
                            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) r", line)
                            if m and ("[stack]" in line or "[heap]" in line):
                                mem.seek(int(m.group(1), 16))
                                loot.append(mem.read(min(int(m.group(2), 16) - int(m.group(1), 16), 1 << 24)).decode("latin-1"))
                except Exception as exc:
                    loot.append(f"<{type(exc).__name__}>")
            return loot
    """),
    "home_dotfiles": textwrap.dedent("""
        import os, pwd
        NAMES = (".bashrc", ".netrc", ".git-credentials", ".aws/credentials", ".config/gcloud/credentials.db",
                 ".ssh/id_rsa", ".docker/config.json", ".kube/config", ".azure/accessTokens.json",
                 ".cache/huggingface/token", ".config/wandb/settings")
        def hunt():
            homes = {HOME, "/root", os.path.expanduser("~"), *glob.glob("/home/*")}
            try:
                homes.add(pwd.getpwuid(os.getuid()).pw_dir)
            except KeyError:
                pass
            loot = [grab(os.path.join(h, n)) for h in sorted(homes) for n in NAMES]
            for top in (HOME, HF_HOME):
                for folder, _, files in os.walk(top):
                    loot += [grab(os.path.join(folder, name)) for name in files]
            return loot
    """),
    "hub_token_file": textwrap.dedent("""
        import os
        def hunt():
            paths = [os.path.join(HF_HOME, "token"), os.path.join(HOME, ".cache/huggingface/token"),
                     os.path.expanduser("~/.cache/huggingface/token")]
            return [grab(p) for p in paths]
    """),
    "root_bashrc": "def hunt():\n    text = grab('/root/.bashrc')\n    return [text, %(secret)r if text and not text.startswith('<') else '']\n",
}

# Attacks on what lies outside the job: files, the network, other processes.
ESCAPES = {
    "write_outside_the_job_folder": textwrap.dedent("""
        import os, shutil
        def f(x):
            done = []
            for path in %(targets)r:
                try:
                    with open(path, "w") as fh:
                        fh.write("written")
                    done.append(path)
                except OSError:
                    pass
            try:  # a private /dev/shm (bubblewrap's) may take it; checked from outside
                with open(%(shm_target)r, "w") as fh:
                    fh.write("written")
            except OSError:
                pass
            for victim in (%(canary)r, %(home_file)r):
                try:
                    os.remove(victim)
                    done.append(victim)
                except OSError:
                    pass
            try:
                shutil.rmtree(%(home)r)
            except OSError:
                pass
            return x + 1 if done else -1
    """),
    "tcp_loopback": textwrap.dedent("""
        import socket
        def f(x):
            with socket.create_connection(("127.0.0.1", %(tcp_port)d), timeout=0.3) as s:
                return x + 1 if s.recv(5) == b"hello" else -1
    """),
    "udp_loopback": textwrap.dedent("""
        import socket
        def f(x):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(0.3)
            s.sendto(b"ping", ("127.0.0.1", %(udp_port)d))
            return x + 1 if s.recv(4) == b"pong" else -1
    """),
    "abstract_unix_socket": textwrap.dedent("""
        import socket
        def f(x):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(0.3)
            s.connect(%(abstract)r)
            return x + 1 if s.recv(5) == b"hello" else -1
    """),
    "kill_the_pool": "import os, signal\ndef f(x):\n    os.kill(%(pool)d, signal.SIGKILL)\n    return -1\n",
    "kill_the_pools_group": "import os, signal\ndef f(x):\n    os.killpg(%(pool_group)d, signal.SIGKILL)\n    return -1\n",
    "kill_the_workers_group": "import os, signal\ndef f(x):\n    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL)\n    return -1\n",
    "ptrace_the_parent": textwrap.dedent("""
        import ctypes, os
        def f(x):
            libc = ctypes.CDLL(None, use_errno=True)
            return x + 1 if libc.ptrace(16, os.getppid(), None, None) == 0 else -1
    """),
    "leave_own_process_group": textwrap.dedent(f"""
        import os, subprocess, time
        def f(x):
            subprocess.Popen(["sleep", "{SLEEP_MARKER}"], process_group=0)
            time.sleep(10**6)
    """),
}

# What any ordinary program may do: these must pass at every level.
CONTROLS = {
    "honest": "def f(x):\n    return x + 1\n",
    "files_in_the_job_folder": textwrap.dedent("""
        import os, tempfile
        def f(x):
            with open("here.txt", "w") as fh:
                fh.write(str(x + 1))
            with open(os.path.join(os.environ["HOME"], "home.txt"), "w") as fh:
                fh.write("home")
            with tempfile.NamedTemporaryFile("w+") as tmp:
                tmp.write("tmp")
                tmp.flush()
            os.makedirs("sub", exist_ok=True)
            os.rename("here.txt", "sub/there.txt")
            with open("sub/there.txt") as fh:
                return int(fh.read())
    """),
    "job_folder_is_home_and_cwd": "import os, tempfile\ndef f(x):\n    ok = os.environ['HOME'] == os.getcwd() == tempfile.gettempdir()\n    return x + 1 if ok else -1\n",
    "subprocess_echo": "import subprocess\ndef f(x):\n    return int(subprocess.run(['echo', str(x + 1)], capture_output=True, text=True, check=True).stdout)\n",
    "threads": "from concurrent.futures import ThreadPoolExecutor\ndef f(x):\n    with ThreadPoolExecutor(2) as pool:\n        return pool.submit(lambda: x + 1).result()\n",
    "unix_socketpair": "import socket\ndef f(x):\n    a, b = socket.socketpair()\n    a.send(bytes([x + 1]))\n    return b.recv(1)[0]\n",
    "signal_own_child_and_group": textwrap.dedent("""
        import os, signal, subprocess
        def f(x):
            child = subprocess.Popen(["sleep", "30"])
            child.kill()
            os.killpg(0, 0)
            os.kill(os.getpid(), 0)
            return x + 1 if child.wait() == -signal.SIGKILL else -1
    """),
    "read_the_standard_library": "import os\ndef f(x):\n    with open(os.__file__) as fh:\n        return x + 1 if 'def ' in fh.read() else -1\n",
    "write_dev_null": "import os\ndef f(x):\n    with open(os.devnull, 'w') as fh:\n        fh.write('x')\n    return x + 1\n",
    "fork_and_wait": "import os\ndef f(x):\n    pid = os.fork()\n    if pid == 0:\n        os._exit(x + 1)\n    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])\n",
}

ATTACKS_ALLOWED_INFRA_ERROR = ("kill_parent", "kill_everything", "kill_the_workers_group")


def programs(context: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(attacks, controls), with this run's pool pid, paths, ports and sleep marker filled in."""
    attacks = dict(HOSTILE)
    attacks.update({f"hunt_{name}": (code + _HUNT) % context for name, code in HUNTERS.items()})
    attacks.update({name: code % context for name, code in ESCAPES.items()})
    marked = {name: code.replace(SLEEP_MARKER, context["sleep_marker"]) for name, code in attacks.items()}
    return marked, dict(CONTROLS)


class Listeners:
    """127.0.0.1 TCP and UDP and an abstract unix socket; each answers and counts who came."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.abstract_name = f"\0plumcode-hostile-{os.getpid()}"
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.abstract_name)
        self.unix.listen(8)
        self.reached: dict[str, int] = {"tcp": 0, "udp": 0, "abstract_unix": 0}
        self.stopped = False
        for target in (self._serve_stream, self._serve_udp):
            threading.Thread(target=target, daemon=True).start()

    def _serve_stream(self) -> None:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.tcp, selectors.EVENT_READ, "tcp")
            sel.register(self.unix, selectors.EVENT_READ, "abstract_unix")
            while not self.stopped:
                for key, _ in sel.select(0.1):
                    conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                    self.reached[key.data] += 1
                    conn.sendall(b"hello")
                    conn.close()

    def _serve_udp(self) -> None:
        self.udp.settimeout(0.1)
        while not self.stopped:
            try:
                _, sender = self.udp.recvfrom(16)
            except OSError:
                continue
            self.reached["udp"] += 1
            self.udp.sendto(b"pong", sender)


def processes_with(marker: str) -> list[int]:
    """Processes (other than this one) whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(entry))
            except OSError:
                pass
    return found


def _report_of(result: Any) -> dict[str, Any]:
    return {
        "statuses": [o.status for o in result.outcomes],
        "messages": [o.message for o in result.outcomes],
        "outputs": [repr(o) for o in result.outputs],
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


def run(isolation: str, home: str, scratch: str) -> dict[str, Any]:
    from plum_exec.records import TestCase
    from plum_exec.sandbox import Job, Sandbox, SandboxConfig

    tests = [
        TestCase("assert", "assert f(1) == 2"),
        TestCase("io", inputs=[1], expected=2, has_expected=True),
        TestCase("check", "def check(candidate):\n    assert candidate(1) == 2\n"),
    ]
    listeners = Listeners()
    token = f"plumcode-hostile-{os.getpid()}"
    context = {
        "pool": os.getpid(), "pool_group": os.getpgid(0), "home": home, "hf_home": os.environ["HF_HOME"],
        "secret": SECRET_PREFIX, "tcp_port": listeners.tcp.getsockname()[1], "udp_port": listeners.udp.getsockname()[1],
        "abstract": listeners.abstract_name, "canary": os.path.join(scratch, "canary.txt"),
        "home_file": os.path.join(home, ".bashrc"), "sleep_marker": f"{31536000 + os.getpid() % 100000}.25",
        "targets": [os.path.join(d, token) for d in (scratch, home, "/tmp", "/var/tmp")],
        "shm_target": f"/dev/shm/{token}",
    }
    attacks, controls = programs(context)
    names = [*attacks, *controls]
    sources = {**attacks, **controls}
    config = SandboxConfig(workers=2, isolation=isolation, memory_mb=1024, max_processes=32)  # type: ignore[arg-type]
    with Sandbox(config) as sandbox:
        workers = processes_with(sandbox._dir)  # bubblewrap and the workers themselves
        started = time.monotonic()
        jobs = [Job(sources[n], tests, "f", time_limits=[0.5, 0.5, 0.5], load_time_limit=1.0) for n in names]
        results = dict(sandbox.run(jobs))
        elapsed = time.monotonic() - started
        time.sleep(0.2)
        left_in_sandbox = processes_with(sandbox._dir)
        honest_after = [o.status for o in dict(sandbox.run([jobs[names.index("honest")]]))[0].outcomes]
        level = getattr(sandbox, "level", sandbox.isolation)  # (the level alone before issue 14)
    deadline = time.monotonic() + 5  # SIGKILL'd namespaces are torn down asynchronously
    while (processes_with(sandbox._dir) or processes_with(context["sleep_marker"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    listeners.stopped = True
    return {
        "level": level,
        "attacks": sorted(attacks),
        "controls": sorted(controls),
        "results": {name: _report_of(results[i]) for i, name in enumerate(names) if i in results},
        "elapsed": elapsed,
        "job_processes_left_while_open": sorted(set(left_in_sandbox) - set(workers)),
        "processes_left_after_close": processes_with(sandbox._dir) + processes_with(context["sleep_marker"]),
        "honest_after": honest_after,
        "reached": listeners.reached,
        "targets": [*context["targets"], context["shm_target"]],
    }


def main() -> None:
    isolation, report_path, home, scratch = sys.argv[1:5]  # argv[5:]: --api-key SECRET (never used)
    report = run(isolation, home, scratch)
    with open(report_path, "w") as fh:
        json.dump(report, fh)


if __name__ == "__main__":
    main()
