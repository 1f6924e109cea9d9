"""``python -m broken DEFECT [aigw check options]`` (from tests/contract): check one broken stack the way
``aigw check`` checks its embedded default — the stack and the suite in one process — and exit with the
check's status. ``none-mock`` / ``none-gateway`` check the unbroken stacks; ``--list`` names the defects.

    cd tests/contract && python -m broken stream-without-done --include streaming --report-dir /tmp/r
"""

from __future__ import annotations

import sys

from broken.catalogue import DEFECTS, ONE_OPERATION, start


def main(argv: list[str]) -> int:
    """``python -m broken DEFECT [aigw check options]``: check one broken stack; ``none-mock``/``none-gateway``
    check the unbroken ones."""
    names = {d.name: d for d in DEFECTS}
    if not argv or argv[0] in ("-h", "--help", "--list"):
        print("defects (name → group: the check that must catch it):")
        for d in DEFECTS:
            print(f"  {d.name:36} {d.group}: {d.test}")
        print("  none-mock / none-gateway           the unbroken stacks")
        return 0 if argv else 2
    name, options = argv[0], argv[1:]
    if name not in names and name not in ("none-mock", "none-gateway"):
        print(f"unknown defect {name!r} (see --list)", file=sys.stderr)
        return 2
    from aigw.cli.main import main as aigw

    defect = names.get(name)
    with start(defect, None if defect else name.removeprefix("none-")) as target:
        narrowed = ONE_OPERATION if defect and defect.base == "mock" else ()
        return aigw(["check", "--target", target.url, *target.flags, *narrowed, *(defect.flags if defect else ()), *options])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
