"""Versions of installed distributions, for records that say what produced a result."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

PLUM_DISTRIBUTIONS = ("plumcode", "plum-exec", "plum-data", "plum-train")


def installed_versions(distributions: Iterable[str]) -> dict[str, str]:
    """``{name: version}`` for each of ``distributions`` that is installed; missing ones are left out."""
    versions = {}
    for name in distributions:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
