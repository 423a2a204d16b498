"""The execution engine: run candidate programs against tests, isolated, fast, with exact verdicts.

```python
with Sandbox(SandboxConfig(workers=2)) as sandbox:
    for index, result in sandbox.run(jobs):
        ...
```
See ``pool`` (dispatch and verdicts), ``worker`` (fork-per-job isolation), ``harness`` (what
runs inside the child) and ``values`` (plain data across the boundary).
"""

from plumcode.sandbox.config import Job, JobResult, SandboxConfig
from plumcode.sandbox.pool import Sandbox, namespace_available, resolve_isolation


def active_isolation(requested: str = "auto") -> str:
    """The isolation level a Sandbox would use for ``requested`` (raises if unavailable)."""
    return resolve_isolation(requested)


__all__ = ["Job", "JobResult", "Sandbox", "SandboxConfig", "active_isolation", "namespace_available"]
