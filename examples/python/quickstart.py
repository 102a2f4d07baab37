"""Tern from Python through its Redis port: start a local three-node cluster, then Set, Get,
Search and SearchSimilar with redis-py (docs/REDIS.md).

    cargo build --release -p node --bin tern-node
    python3 -m venv target/redis-venv && target/redis-venv/bin/pip install -r examples/python/requirements.txt
    target/redis-venv/bin/python examples/python/quickstart.py

Uses target/release/tern-node (or TERN_NODE), free loopback ports and a temporary data
directory, and stops the cluster at the end. To use a cluster that is already running
(`tern-node cluster --nodes 3`), set TERN_REDIS_PORT=6380.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TERN_NODE = os.environ.get("TERN_NODE", os.path.join(ROOT, "target", "release", "tern-node"))


def consecutive_free_ports(count):
    """A base port with `count` free loopback ports from it (tern-node cluster wants a run)."""
    for _ in range(200):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
        probe.close()
        free = True
        for port in range(base, min(base + count, 65536)):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                free = False
            finally:
                s.close()
        if free and base + count < 65536:
            return base
    sys.exit("no free ports on 127.0.0.1")


def start_cluster():
    """`tern-node cluster --nodes 3`: returns the process, its data directory and node 1's
    Redis port, once a write goes through."""
    data = tempfile.mkdtemp(prefix="tern-quickstart-")
    base, redis_base = consecutive_free_ports(3), consecutive_free_ports(3)
    process = subprocess.Popen(
        [TERN_NODE, "cluster", "--nodes", "3", "--data-dir", data,
         "--base-port", str(base), "--redis-base-port", str(redis_base)],
        stdout=subprocess.DEVNULL)
    client = redis.Redis(port=redis_base, socket_timeout=5)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.set("__ready", "1")
            return process, data, redis_base
        except (redis.ConnectionError, redis.ResponseError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                sys.exit("the cluster did not start")
            time.sleep(0.05)


def main():
    process, data, port = None, None, os.environ.get("TERN_REDIS_PORT")
    if port is None:
        process, data, port = start_cluster()
    try:
        db = redis.Redis(port=int(port), decode_responses=True)

        # Set and Get: each SET is acknowledged once two of the three replicas synced it.
        db.set("doc1", "Python is a programming language")
        db.set("doc2", "Java is also a programming language")
        db.set("doc3", "The tern is a seabird")
        print("get doc1:", db.get("doc1"))

        # Search: the keys whose values match a boolean query, best first, with scores.
        for key, score in db.execute_command("TERN.SEARCH", "python programming"):
            print(f"search 'python programming': {key} {float(score):.6f}")

        # SearchSimilar: the keys closest to a text by TF-IDF cosine similarity.
        for key, score in db.execute_command("TERN.SIMILAR", "coding languages", "TOPK", "5"):
            print(f"similar to 'coding languages': {key} {float(score):.6f}")

        assert db.get("doc1") == "Python is a programming language"
        hits = db.execute_command("TERN.SEARCH", "python programming")
        assert [key for key, _ in hits] == ["doc1"], hits
        close = [key for key, _ in db.execute_command("TERN.SIMILAR", "coding languages", "TOPK", "5")]
        assert set(close) == {"doc1", "doc2"}, close
        print("quickstart: ok")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
