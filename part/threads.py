"""How many threads each job of a recipe stage may use, from the cores that are really free.

A CPU core runs one thread at a time: when the threads of all running jobs outnumber the cores, every
job waits for the others, and torch's intra-op threads, which synchronise at every operation, wait the
most. On the 2-core build machine, with other processes running, an LLM training step took 5 s with
``OMP_NUM_THREADS=2`` against 0.37 s with 1 thread. So the threads of a stage's job are::

    cores   = CPUs this process may run on (sched_getaffinity), capped by a cgroup CPU quota if set
              (whole CPUs of it)
    busy    = what other processes keep running: the smaller of the 1-minute load average and the
              runnable processes sampled over half a second (the load average lags: right after a
              training run it still counts that run)
    threads = max(1, round(cores - busy) // jobs)  # jobs: the stage's parallel jobs (--nj)

``busy`` is rounded, not floored: a fraction of a core is what the sampling catches of processes that
are ending (the previous stage's), and flooring it ran whole stages of the main job on 1 of 2 free cores.

``egs/TEMPLATE/part.sh`` asks before each stage (``python -m part.bin.threads --jobs N``),
exports ``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` and logs the reason; ``--num_threads N`` or an
``OMP_NUM_THREADS`` already in the environment overrides it.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cgroup_cpu_limit(v2: Path = CGROUP_V2, v1: Sequence[Path] = CGROUP_V1) -> Optional[float]:
    """CPUs allowed by a cgroup quota (``quota / period``), or None when there is no quota."""
    try:
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota, period = int(v1[0].read_text()), int(v1[1].read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def runnable_others(samples: int = 10, interval: float = 0.05) -> float:
    """Mean number of runnable processes besides this one (``/proc/loadavg``'s running count)."""
    counts = []
    for k in range(samples):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        counts.append(max(0, running - 1))
        if k + 1 < samples:
            time.sleep(interval)
    return sum(counts) / len(counts)


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    cores: float
    busy: float
    jobs: int
    quota: Optional[float]

    def describe(self) -> str:
        quota = f", cgroup quota {self.quota:g}" if self.quota is not None else ""
        return (f"{self.threads} thread(s) per job: {self.cores:g} core(s) available (CPU affinity{quota}), "
                f"about {self.busy:.1f} kept busy by other processes, {self.jobs} parallel job(s)")


def choose_threads(jobs: int = 1, cores: Optional[float] = None, busy: Optional[float] = None,
                   quota: Optional[float] = -1.0) -> ThreadChoice:
    """Threads per job for ``jobs`` parallel jobs (see the module doc); the measurements can be given."""
    jobs = max(1, int(jobs))
    if quota == -1.0:
        quota = cgroup_cpu_limit()
    if cores is None:
        cores = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        if quota is not None:
            cores = min(cores, max(1.0, math.floor(quota)))   # a quota of 1.5 CPUs runs 1 thread unthrottled
    if busy is None:
        busy = min(os.getloadavg()[0], runnable_others())
    free = max(1, int(math.floor(cores - busy + 0.5)))
    return ThreadChoice(max(1, free // jobs), cores, busy, jobs, quota)
