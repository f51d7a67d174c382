"""`python -m tests.integration.export.peak_child ARGS`: run `arc-db ARGS` in this process, then
write its peak resident set size (VmHWM, KiB) as the last line of stderr: `peak_rss_kib=N`.

VmHWM belongs to the process image and starts again at exec, so it counts this program only.
ru_maxrss from wait4 would not do: the kernel carries the parent's peak (the pytest process
that forked this one) over the exec.
"""

import sys
from pathlib import Path

from arc.database.cli.main import main


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stderr.write(f"\npeak_rss_kib={peak_kib()}\n")
    sys.exit(code)
