"""The execution engine: run candidate programs against tests, isolated, fast, with exact verdicts.

```python
with Sandbox(SandboxConfig(workers=2)) as sandbox:
    for index, result in sandbox.run(jobs):
        ...
```
See ``pool`` (dispatch and verdicts), ``worker`` (fork-per-job isolation), ``harness`` (what
runs inside the child) and ``values`` (plain data across the boundary).

Names load on first use: a worker imports ``plum_exec.sandbox.worker`` and must not pull in the
pool's modules, because every megabyte it holds makes each fork slower (~13 us per MB here).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Job": "plum_exec.sandbox.config",
    "JobResult": "plum_exec.sandbox.config",
    "SandboxConfig": "plum_exec.sandbox.config",
    "UNJUDGEABLE": "plum_exec.sandbox.config",
    "Sandbox": "plum_exec.sandbox.pool",
    "namespace_available": "plum_exec.sandbox.pool",
    "resolve_isolation": "plum_exec.sandbox.pool",
}

__all__ = ["UNJUDGEABLE", "Job", "JobResult", "Sandbox", "SandboxConfig", "active_isolation", "namespace_available"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'plum_exec.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def active_isolation(requested: str = "auto") -> str:
    """The isolation level a Sandbox would use for ``requested`` (raises if unavailable)."""
    from plum_exec.sandbox.pool import resolve_isolation

    return resolve_isolation(requested)
