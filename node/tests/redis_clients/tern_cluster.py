"""Starts and stops local Tern clusters for the Redis-client tests: loopback only, free
ports, data in a temporary directory, bounded waits, and every process stopped at the end."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TERN_NODE = os.environ.get("TERN_NODE", os.path.join(ROOT, "target", "release", "tern-node"))
READY_TIMEOUT_S = 30


def free_ports(count):
    """`count` distinct free loopback ports (bound, then released)."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def consecutive_free_ports(count, tries=200):
    """A base port such that base .. base+count-1 are all free (`tern-node cluster` wants
    consecutive ports)."""
    for _ in range(tries):
        base = free_ports(1)[0]
        if base + count >= 65536:
            continue
        ok = True
        for port in range(base, base + count):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return base
    raise RuntimeError("no run of free ports found")


def wait_writable(port, timeout_s=READY_TIMEOUT_S):
    """Waits until a SET through `port` is acknowledged."""
    deadline = time.monotonic() + timeout_s
    client = redis.Redis(port=port, socket_timeout=5)
    while True:
        try:
            if client.set("__ready", "1"):
                client.close()
                return
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"node on port {port} not writable within {timeout_s} s")
        time.sleep(0.05)


class Cluster:
    """Three nodes, either one `tern-node cluster` process or three `tern-node` processes
    (so that one can be killed)."""

    def __init__(self, separate_processes=False, cluster_args=()):
        self.dir = tempfile.mkdtemp(prefix="tern-redis-test-")
        self.processes = []
        self.logs = []
        if separate_processes:
            native = free_ports(3)
            self.redis_ports = free_ports(3)
            for i in range(3):
                peers = ",".join(f"{j + 1}=127.0.0.1:{native[j]}" for j in range(3) if j != i)
                self._spawn(i, [TERN_NODE, "--id", str(i + 1), "--listen", f"127.0.0.1:{native[i]}",
                                "--peers", peers, "--data-dir", os.path.join(self.dir, f"node-{i + 1}"),
                                "--redis-listen", f"127.0.0.1:{self.redis_ports[i]}", "--log", "warn"])
        else:
            base = consecutive_free_ports(3)
            redis_base = consecutive_free_ports(3)
            self.redis_ports = [redis_base + i for i in range(3)]
            self._spawn(0, [TERN_NODE, "cluster", "--nodes", "3", "--data-dir", self.dir,
                            "--base-port", str(base), "--redis-base-port", str(redis_base),
                            *cluster_args])
        try:
            for port in self.redis_ports:
                wait_writable(port)
        except Exception:
            self.stop()
            raise

    def _spawn(self, index, argv):
        log = open(os.path.join(self.dir, f"process-{index}.log"), "wb")
        self.logs.append(log)
        self.processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def kill(self, index):
        """SIGKILL process `index` (a node, with separate processes)."""
        process = self.processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for log in self.logs:
            log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
