"""A real single-node Slurm cluster on this machine, for one test module at a time.

Debian's ``slurm-wlm`` and ``munge`` are installed when missing (as root, like the
other system packages of :mod:`sysdeps`). A cluster is generated in a temporary
directory: its own munge key and socket, a ``slurm.conf`` naming this machine's
hostname, its real CPU count and memory, its own ports and state, and two
partitions on the one node:

- ``interactive`` (the default) shares CPUs between jobs (``OverSubscribe=FORCE``),
  as interactive partitions often do: servers and kernels of several users fit;
- ``batch`` gives each job its CPUs to itself (Slurm never lets it share a node with
  jobs that oversubscribe), so while a job of ``interactive`` holds every CPU
  (:meth:`Cluster.fill`), a ``batch`` job waits with ``squeue``'s reason
  ``Resources``: the partition has no free CPUs.

``munged``, ``slurmctld`` and ``slurmd`` run as the fixture's children and are
stopped (every job cancelled first) when the module's tests are done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sysdeps
from jupyter import free_port

#: Where Debian puts the daemons.
DAEMONS = {
    "munged": "/usr/sbin/munged",
    "slurmctld": "/usr/sbin/slurmctld",
    "slurmd": "/usr/sbin/slurmd",
}


def installed() -> None:
    """Install slurm-wlm and munge when missing; skip the test when that is impossible."""
    sysdeps.ensure_package("slurmctld", "slurm-wlm", (DAEMONS["slurmctld"],))
    sysdeps.ensure_package("munged", "munge", (DAEMONS["munged"],))


def node_address() -> str:
    """This machine's first non-loopback address: kernels must listen where others reach them."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
        address = str(probe.getsockname()[0])
        if not address.startswith("127."):
            return address
    pytest.skip("this machine has no non-loopback IPv4 address for a Slurm node")


def real_memory_mb() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


@dataclass
class Cluster:
    """A running cluster; ``env`` is what its commands (and a server using them) need."""

    root: Path
    conf: Path
    hostname: str
    address: str
    cpus: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True) -> str:
        done = subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{argv} failed: {done.stdout}{done.stderr}\n{self.logs()}")
        return done.stdout

    def jobs(self, *states: str) -> list[dict[str, str]]:
        """``squeue``'s jobs (all users): id, state, reason, partition, name, user."""
        argv = ["squeue", "-h", "-o", "%i|%T|%r|%P|%j|%u"]
        if states:
            argv += ["-t", ",".join(states)]
        rows = []
        for line in self.run(*argv).splitlines():
            job_id, state, reason, partition, name, user = line.split("|")
            rows.append(
                {
                    "id": job_id,
                    "state": state,
                    "reason": reason,
                    "partition": partition,
                    "name": name,
                    "user": user,
                }
            )
        return rows

    def job(self, job_id: str) -> dict[str, str] | None:
        """One job as ``squeue -t all`` shows it (ended jobs stay a while); None if unknown."""
        out = self.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%i|%T|%r|%N", check=False)
        for line in out.splitlines():
            found, state, reason, node = line.split("|")
            if found == job_id:
                return {"id": found, "state": state, "reason": reason, "node": node}
        return None

    def state(self, job_id: str) -> str:
        """A job's state (``GONE`` once Slurm forgot it)."""
        job = self.job(job_id)
        return job["state"] if job is not None else "GONE"

    def fill(self) -> str:
        """A job in ``interactive`` holding every CPU: ``batch`` then has none free."""
        out = self.run(
            "sbatch",
            "--parsable",
            "--partition=interactive",
            f"--cpus-per-task={self.cpus}",
            "--job-name=filler",
            "--output=/dev/null",
            "--wrap=exec sleep 3600",
        )
        job_id = out.strip().split(";")[0]
        self.wait_for(lambda: (self.job(job_id) or {}).get("state") == "RUNNING", "filler runs")
        return job_id

    def cancel(self, *job_ids: str) -> None:
        if job_ids:
            self.run("scancel", *job_ids, check=False)

    def wait_for(self, condition: object, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting until {what}\n{self.logs()}")

    def wait_empty(self, timeout: float = 90) -> None:
        """Until no job is left in ``squeue`` (pending, running or completing)."""
        self.wait_for(lambda: not self.jobs(), "squeue is empty", timeout)

    def logs(self) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            with contextlib.suppress(OSError):
                parts.append(
                    f"--- {name}\n" + "\n".join((self.root / name).read_text().splitlines()[-30:])
                )
        return "\n".join(parts)


def _slurm_conf(root: Path, hostname: str, address: str, cpus: int, munge_socket: Path) -> str:
    memory = real_memory_mb() - 512  # what slurmd reports, less what the OS keeps
    return f"""\
ClusterName=pk{os.getpid() % 100000}
SlurmctldHost={hostname}({address})
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={root / "slurmctld.pid"}
SlurmdPidFile={root / "slurmd.pid"}
SlurmctldLogFile={root / "slurmctld.log"}
SlurmdLogFile={root / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=300
KillWait=5
NodeName={hostname} NodeAddr={address} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=interactive Nodes={hostname} Default=YES State=UP OverSubscribe=FORCE:8
PartitionName=batch Nodes={hostname} State=UP OverSubscribe=NO
"""


def _start(cluster: Cluster, name: str, argv: list[str]) -> None:
    log = open(cluster.root / f"{name}.out", "wb")
    cluster.processes[name] = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=cluster.env, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """munged, slurmctld and slurmd in a temporary directory, stopped (jobs cancelled) after."""
    if os.geteuid() != 0:
        pytest.skip("starting slurmctld and slurmd needs root")
    installed()
    root = Path(tempfile.mkdtemp(prefix="project-kernels-slurm-"))
    root.chmod(0o755)  # users' commands reach the munge socket through it
    for name in ("state", "spool", "munge-key", "munge"):
        (root / name).mkdir()
    (root / "munge-key").chmod(0o700)
    key = root / "munge-key" / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o600)
    munge_socket = root / "munge" / "munge.socket"
    hostname, address, cpus = socket.gethostname(), node_address(), os.cpu_count() or 1
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, hostname, address, cpus, munge_socket))
    conf.chmod(0o644)
    cluster = Cluster(root, conf, hostname, address, cpus)
    try:
        _start(
            cluster,
            "munged",
            [
                DAEMONS["munged"],
                "--foreground",
                "--force",
                f"--socket={munge_socket}",
                f"--key-file={key}",
                f"--pid-file={root / 'munge' / 'munged.pid'}",
                f"--seed-file={root / 'munge-key' / 'seed'}",
                f"--log-file={root / 'munged.log'}",
            ],
        )
        cluster.wait_for(munge_socket.exists, "munged listens")
        _start(cluster, "slurmctld", [DAEMONS["slurmctld"], "-D", "-i", "-f", str(conf)])
        cluster.wait_for(
            lambda: "is UP" in cluster.run("scontrol", "ping", check=False), "slurmctld answers"
        )
        _start(cluster, "slurmd", [DAEMONS["slurmd"], "-D", "-f", str(conf)])
        cluster.wait_for(
            lambda: (
                cluster.run("sinfo", "-h", "-o", "%T", "-p", "interactive", check=False).strip()
                == "idle"
            ),
            "the node is idle",
        )
        yield cluster
    finally:
        _shut_down(cluster)
        shutil.rmtree(root, ignore_errors=True)


def _shut_down(cluster: Cluster) -> None:
    """Cancel every job, wait until they are gone, then stop the daemons."""
    if "slurmctld" in cluster.processes:
        with contextlib.suppress(Exception):
            ids = [job["id"] for job in cluster.jobs()]
            cluster.cancel(*ids)
            cluster.wait_empty(60)
    for name in ("slurmd", "slurmctld", "munged"):
        if name in cluster.processes:
            _stop(cluster.processes[name])
