"""Real servers for the tests, on this machine and on loopback: a PostgreSQL server and a
two-node Ray cluster, each started in a temporary directory and stopped (every process) after."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hydra_plugins.hpo_sweeper._procs import kill, processes, with_descendants

PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own, on 127.0.0.1, in a temporary directory; its URL (the
    password is not checked: trust authentication, so a test can see where it would leak)."""
    bin_dir = PG_BIN[-1].parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses root
    home = Path(tempfile.mkdtemp(prefix="hpo-pg-"))
    if as_postgres:
        shutil.chown(home, "postgres")
    data, port = home / "data", free_port()

    def pg(*args: str) -> None:
        proc = subprocess.run([*as_postgres, *args], capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, f"{' '.join(args)}\n{proc.stdout}\n{proc.stderr}"

    pg(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "hpo", "--no-sync")
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(home / "log"),
       "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off", "start")
    try:
        pg(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "hpo", "hpo")
        yield f"postgresql://hpo:s3cret@127.0.0.1:{port}/hpo"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


# -- a Ray cluster of two nodes -----------------------------------------------------------------

def _raylets(temp_dir: Path) -> set[int]:
    return {pid for pid, (_, cmd) in processes().items() if "/raylet/raylet " in cmd and str(temp_dir) in cmd}


@dataclass
class RayCluster:
    address: str
    env: dict[str, str]  # what a driver needs to join it (token authentication)
    temp_dir: Path
    worker_raylet: int

    def node_ids(self) -> dict[str, str]:
        """Node id -> "head" or "worker" (the worker node is the one whose raylet is ``worker_raylet``)."""
        code = (f"import json, ray; ray.init(address={self.address!r}, logging_level='ERROR'); "
                "print(json.dumps([[n['NodeID'], n['NodeManagerAddress'], n.get('RayletSocketName', '')] "
                "for n in ray.nodes()]))")
        proc = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                              timeout=120, check=True)
        nodes = json.loads(proc.stdout.strip().splitlines()[-1])
        worker_socket = processes()[self.worker_raylet][1].split("--raylet_socket_name=")[1].split()[0]
        return {node: "worker" if sock == worker_socket else "head" for node, _, sock in nodes}

    def kill_worker_node(self) -> None:
        """The worker node dies at once: its raylet and every process under it (SIGKILL)."""
        kill(with_descendants({self.worker_raylet}))


@contextmanager
def ray_cluster(cpus_per_node: int = 1) -> Iterator[RayCluster]:
    """``ray start --head`` and a second ``ray start --address`` node on this machine, token
    authentication with a token of their own; every process they started is killed after."""
    temp_dir = Path(tempfile.mkdtemp(prefix="hpo-ray-", dir="/tmp"))  # Ray's socket paths must be short
    token = temp_dir / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    port = free_port()
    address = f"127.0.0.1:{port}"

    def ray(*args: str) -> None:
        proc = subprocess.run([str(RAY), "start", *args], env=env, capture_output=True, text=True, timeout=180,
                              check=False)
        assert proc.returncode == 0, f"ray start {' '.join(args)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"

    try:
        ray("--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={cpus_per_node}",
            "--include-dashboard=false", f"--temp-dir={temp_dir}", f"--ray-client-server-port={free_port()}",
            f"--dashboard-port={free_port()}", "--disable-usage-stats")
        head = _raylets(temp_dir)
        ray(f"--address={address}", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}",
            "--disable-usage-stats")
        deadline = time.monotonic() + 60
        while not (_raylets(temp_dir) - head) and time.monotonic() < deadline:
            time.sleep(0.5)
        (worker,) = _raylets(temp_dir) - head
        yield RayCluster(address, env, temp_dir, worker)
    finally:
        ours = with_descendants({pid for pid, (_, cmd) in processes().items() if str(temp_dir) in cmd})
        kill(ours)
        deadline = time.monotonic() + 20
        while ours & set(processes()) and time.monotonic() < deadline:  # (zombies are reaped by init)
            time.sleep(0.2)
        shutil.rmtree(temp_dir, ignore_errors=True)
