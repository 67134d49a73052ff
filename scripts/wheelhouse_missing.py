"""Requirements the wheels in a wheelhouse need on another Python, and it lacks.

    python scripts/wheelhouse_missing.py WHEELHOUSE TARGET_VERSION

`pip wheel` evaluates environment markers for the Python running it; the image's
Python can differ (Debian bookworm's 3.11.2 needs async-timeout for redis, because of
`python_full_version < "3.11.3"`). Prints one requirement per line, for `pip download`.
"""

from __future__ import annotations

import email.parser
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename


def missing(house: Path, target: str) -> list[str]:
    env = {"python_full_version": target, "python_version": ".".join(target.split(".")[:2])}
    wheels = list(house.glob("*.whl"))
    have = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheels}
    needed: set[str] = set()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = email.parser.Parser().parsestr(archive.read(name).decode())
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or "extra" in str(marker):
                continue  # unconditional ones are there already; optional extras are not ours
            if marker.evaluate({**env, "extra": ""}) and canonicalize_name(requirement.name) not in have:
                needed.add(f"{requirement.name}{requirement.specifier}")
    return sorted(needed)


if __name__ == "__main__":
    print("\n".join(missing(Path(sys.argv[1]), sys.argv[2])))
