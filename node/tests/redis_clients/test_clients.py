"""redis-py and redis-cli against a three-node Tern cluster (docs/REDIS.md).

Run by .ci/run: `python -m unittest discover -s node/tests/redis_clients -v`, with redis-py
from examples/python/requirements.txt and redis-cli from the Debian package redis-tools.
Needs `target/release/tern-node` (or TERN_NODE).
"""

import os
import subprocess
import sys
import threading
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(__file__))
from tern_cluster import Cluster  # noqa: E402

TIMEOUT_S = 10


class OneCluster(unittest.TestCase):
    """Tests that share one `tern-node cluster --nodes 3` process."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.ports = cls.cluster.redis_ports

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()

    def client(self, node=0, **options):
        return redis.Redis(port=self.ports[node], socket_timeout=TIMEOUT_S, **options)

    def test_set_get_delete_through_different_nodes(self):
        a, b = self.client(0), self.client(2)
        self.assertTrue(a.set("greeting", "hello"))
        self.assertEqual(b.get("greeting"), b"hello")
        self.assertEqual(b.exists("greeting", "nothing"), 1)
        self.assertEqual(a.delete("greeting", "nothing"), 1)
        self.assertIsNone(b.get("greeting"))
        self.assertEqual(b.delete("greeting"), 0)

    def test_pipeline_answers_in_order_and_reads_its_own_writes(self):
        r = self.client(1)
        with r.pipeline(transaction=False) as pipe:
            for i in range(100):
                pipe.set(f"pipe:{i}", f"value {i}")
                pipe.get(f"pipe:{i}")
            replies = pipe.execute()
        self.assertEqual(replies[0::2], [True] * 100)
        self.assertEqual(replies[1::2], [f"value {i}".encode() for i in range(100)])

    def test_mset_and_mget(self):
        r = self.client(0)
        self.assertTrue(r.mset({"m:a": "1", "m:b": "2", "m:c": "3"}))
        self.assertEqual(self.client(2).mget("m:a", "m:b", "m:missing", "m:c"), [b"1", b"2", None, b"3"])

    def test_mset_is_atomic_and_mget_sees_it_whole(self):
        # One writer MSETs ten keys to each round's value; readers on the other nodes MGET
        # them meanwhile: every MGET sees one MSET whole (all ten values equal).
        keys = [f"atomic:{i}" for i in range(10)]
        rounds = 100
        done, errors, reads, fractured = threading.Event(), [], [], []

        def write():
            try:
                w = self.client(0)
                for n in range(rounds):
                    w.mset({key: f"round-{n}" for key in keys})
            except Exception as error:  # reported by the assertion below
                errors.append(error)
            finally:
                done.set()

        def read(node):
            try:
                r = self.client(node)
                while not done.is_set():
                    values = r.mget(keys)
                    reads.append(node)
                    if len(set(values)) != 1:
                        fractured.append(values)
            except Exception as error:  # reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=write)]
        threads += [threading.Thread(target=read, args=(node,)) for node in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT_S * 6)
        self.assertEqual(errors, [])
        self.assertEqual(fractured, [], f"{len(fractured)} fractured MGETs of {len(reads)}")
        r = self.client(1)
        self.assertEqual(set(r.mget(keys)), {f"round-{rounds - 1}".encode()})
        # DEL of several keys is one atomic delete; it counts the keys that had a value.
        self.assertEqual(r.delete(*keys, "atomic:none"), 10)
        self.assertEqual(set(r.mget(keys)), {None})
        # Over the bulk limit: refused, nothing written.
        with self.assertRaises(redis.ResponseError) as refused:
            r.mset({f"many:{i}": "v" for i in range(101)})
        self.assertIn("BULK_KEYS_MAX", str(refused.exception))
        self.assertIsNone(r.get("many:0"))

    def test_errors_are_replies_and_the_connection_survives(self):
        r = self.client(0)
        with self.assertRaisesRegex(redis.ResponseError, "not supported"):
            r.set("k", "v", nx=True)
        with self.assertRaisesRegex(redis.ResponseError, "not supported"):
            r.set("k", "v", ex=10)
        with self.assertRaisesRegex(redis.ResponseError, "unknown command 'FLUSHALL'"):
            r.execute_command("FLUSHALL")
        # A transaction pipeline needs MULTI, which Tern does not have: a clear error, and
        # nothing in it runs.
        with self.assertRaisesRegex(redis.ResponseError, "MULTI"):
            with r.pipeline(transaction=True) as pipe:
                pipe.set("in-transaction", "1")
                pipe.execute()
        self.assertIsNone(r.get("in-transaction"))
        with self.assertRaisesRegex(redis.ResponseError, "out of range"):
            r.execute_command("SELECT", "3")
        self.assertTrue(r.ping())
        self.assertTrue(r.set("after-errors", "fine"))
        self.assertEqual(r.get("after-errors"), b"fine")

    def test_resp3_client(self):
        r = self.client(1, protocol=3)
        self.assertTrue(r.set("resp3", "three"))
        self.assertEqual(r.get("resp3"), b"three")
        self.assertIsNone(r.get("resp3-missing"))
        self.assertEqual(r.client_setname("py3"), True)
        self.assertEqual(r.client_getname(), b"py3")

    def test_search_and_similar(self):
        r = self.client(0)
        r.set("doc:python", "Python is a programming language")
        r.set("doc:java", "Java is also a programming language")
        hits = r.execute_command("TERN.SEARCH", "python programming")
        self.assertEqual([key for key, _ in hits], [b"doc:python"])
        self.assertGreater(float(hits[0][1]), 0)
        close = self.client(2, protocol=3).execute_command("TERN.SIMILAR", "coding languages", "TOPK", "5")
        self.assertEqual({key for key, _ in close}, {b"doc:python", b"doc:java"})
        self.assertIsInstance(close[0][1], float)
        with self.assertRaisesRegex(redis.ResponseError, "never closed"):
            r.execute_command("TERN.SEARCH", "python (java")

    def test_siblings_resolve_and_replace(self):
        r = self.client(0)
        r.execute_command("TERN.SET", "sib", "left")
        r.execute_command("TERN.SET", "sib", "right")
        context, values = r.execute_command("TERN.SIBLINGS", "sib")
        self.assertEqual(sorted(values), [b"left", b"right"])
        self.assertIn(r.get("sib"), (b"left", b"right"))
        r.execute_command("TERN.SET", "sib", "merged", "CONTEXT", context)
        self.assertEqual(r.execute_command("TERN.SIBLINGS", "sib")[1], [b"merged"])
        # SET replaces every version its read shows.
        r.execute_command("TERN.SET", "sib", "again")
        self.assertTrue(r.set("sib", "plain"))
        self.assertEqual(r.execute_command("TERN.SIBLINGS", "sib")[1], [b"plain"])

    def test_info_and_dbsize(self):
        r = self.client(0)
        info = r.info()
        self.assertEqual(info["members"], 3)
        self.assertEqual(info["members_up"], 3)
        self.assertEqual(info["role"], "master")
        self.assertIn("fdatasync", info["tern_fsync_policy"])
        r.set("counted", "1")
        self.assertGreaterEqual(r.dbsize(), 1)
        self.assertGreaterEqual(r.info("keyspace")["db0"]["keys"], 1)

    def redis_cli(self, *args, node=0):
        done = subprocess.run(["redis-cli", "-p", str(self.ports[node]), *args],
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        return done.stdout.strip()

    def test_redis_cli(self):
        self.assertEqual(self.redis_cli("set", "cli:key", "from redis-cli"), "OK")
        self.assertEqual(self.redis_cli("get", "cli:key", node=1), "from redis-cli")
        self.assertEqual(self.redis_cli("mset", "cli:a", "1", "cli:b", "2"), "OK")
        self.assertEqual(self.redis_cli("mget", "cli:a", "cli:b", node=2).split("\n"), ["1", "2"])
        self.assertEqual(self.redis_cli("del", "cli:key", "cli:a"), "2")
        self.assertEqual(self.redis_cli("exists", "cli:key"), "0")
        self.assertIn("unknown command 'nosuch'", self.redis_cli("nosuch", "x"))
        self.assertIn("not supported", self.redis_cli("set", "a", "b", "xx"))
        self.assertEqual(self.redis_cli("ping"), "PONG")
        # RESP3 from redis-cli, and INFO as redis-cli shows it.
        self.assertEqual(self.redis_cli("-3", "get", "cli:b"), "2")
        self.assertIn("members_up:3", self.redis_cli("info", "replication"))


class NoSearchIndex(unittest.TestCase):
    """`tern-node cluster --search-index off`: data commands work, searches are refused."""

    def test_writes_work_and_searches_say_the_index_is_off(self):
        cluster = Cluster(cluster_args=("--search-index", "off"))
        try:
            r = redis.Redis(port=cluster.redis_ports[1], socket_timeout=TIMEOUT_S)
            r.set("doc", "Python is a programming language")
            self.assertEqual(r.get("doc"), b"Python is a programming language")
            for command in (("TERN.SEARCH", "python"), ("TERN.SIMILAR", "python")):
                with self.assertRaisesRegex(redis.ResponseError, "search is off"):
                    r.execute_command(*command)
        finally:
            cluster.stop()


class NodeKilled(unittest.TestCase):
    """Three `tern-node` processes; one is killed mid-run and the client moves on."""

    def test_client_retries_on_another_node_when_one_is_killed(self):
        cluster = Cluster(separate_processes=True)
        try:
            ports = cluster.redis_ports
            # A new cluster's nodes first rebuild from each other (docs/CONTRACT.md, "Crash
            # recovery"); a node killed before the others finished leaves them rebuilding,
            # not counted toward R, until it is back. Kill only once every node is whole.
            deadline = time.monotonic() + 30
            while any(redis.Redis(port=p, socket_timeout=5).info("replication")["tern_rebuilding"]
                      for p in ports):
                self.assertLess(time.monotonic(), deadline, "the new cluster never finished rebuilding")
                time.sleep(0.05)
            node = 0
            r = redis.Redis(port=ports[node], socket_timeout=5)
            acknowledged = {}
            moved = 0
            for i in range(300):
                if i == 100:
                    cluster.kill(0)
                key, value = f"kill:{i}", f"v{i}"
                deadline = time.monotonic() + 30
                while True:
                    try:
                        r.set(key, value)
                        acknowledged[key] = value
                        break
                    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as error:
                        # A lost connection leaves the SET indeterminate; writing the same
                        # value again through another node is safe.
                        self.assertLess(time.monotonic(), deadline, f"{key}: {error}")
                        if isinstance(error, redis.ResponseError) and not str(error).startswith(
                                ("TRYAGAIN", "INDETERMINATE", "UNAVAILABLE", "TIMEOUT")):
                            raise
                        node = (node + 1) % 3
                        if node == 0:
                            node = 1
                        r = redis.Redis(port=ports[node], socket_timeout=5)
                        moved += 1
                        time.sleep(0.05)
            self.assertGreaterEqual(moved, 1, "the client never had to move")
            survivor = redis.Redis(port=ports[2], socket_timeout=5)
            keys = sorted(acknowledged)
            # One MGET reads at most 100 keys (BULK_KEYS_MAX): read them in parts.
            for start in range(0, len(keys), 100):
                part = keys[start:start + 100]
                self.assertEqual(survivor.mget(part), [acknowledged[k].encode() for k in part])
        finally:
            cluster.stop()


if __name__ == "__main__":
    unittest.main()
