"""The embedded SQS's journal when the disk is full, its durability modes and its file modes:
every send answered 200 survives a restart, a send answered 500 leaves no trace, and the journal
always ends on a whole record.

The full disk is a real one: a small tmpfs mounted for the test (the tests run as root; as
another user, this module runs itself again in a user and mount namespace, where it may mount
one).
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import MOONRUN  # noqa: E402
from test_dev_sqs import DevSqs  # noqa: E402

import boto3  # noqa: E402
import botocore.config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

ONE_TRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


def in_namespace_if_needed():
    """As another user than root: runs this module again under `unshare -rm`, and exits with its
    status (True when this process is the one to run the tests)."""
    if os.geteuid() == 0:
        return True
    command = ["unshare", "--map-root-user", "--mount", sys.executable, "-m", "unittest", "-v",
               os.path.abspath(__file__)]
    sys.exit(subprocess.call(command, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class SmallDisk:
    """A tmpfs of size_kb, mounted on a temporary folder."""

    def __init__(self, size_kb):
        self.path = tempfile.mkdtemp(prefix="moonrun-small-disk-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", self.path], check=True)

    def close(self):
        subprocess.run(["umount", "-l", self.path], check=False)
        shutil.rmtree(self.path, ignore_errors=True)


def drain(sqs, url):
    """Every body in the queue, each received once and deleted."""
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def client(dev):
    return boto3.client("sqs", endpoint_url=dev.url, region_name="us-east-1",
                        aws_access_key_id="AKIAMOONRUNDEV000000",
                        aws_secret_access_key="moonrun-dev-secret", config=ONE_TRY)


def fill(path, leave_bytes):
    """Writes a file at path until the disk is full, then cuts it so leave_bytes are free."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                written += 65536
        except OSError:
            pass
    size = os.path.getsize(path)
    os.truncate(path, max(0, size - leave_bytes))


class DiskFull(unittest.TestCase):
    def setUp(self):
        self.disk = SmallDisk(1024)
        self.addCleanup(self.disk.close)
        self.state = os.path.join(self.disk.path, "state")
        self.logs = tempfile.mkdtemp(prefix="moonrun-dev-logs-")
        self.addCleanup(shutil.rmtree, self.logs, True)

    def start(self):
        dev = DevSqs(self.state, log_dir=self.logs).start()
        self.addCleanup(dev.stop)
        return dev, client(dev)

    def send(self, sqs, url, body):
        try:
            sqs.send_message(QueueUrl=url, MessageBody=body)
            return True
        except ClientError as err:
            self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 500)
            self.assertEqual(err.response["Error"]["Code"], "InternalFailure")
            return False

    def test_acknowledged_sends_survive_and_failed_ones_leave_no_trace(self):
        dev, sqs = self.start()
        url = sqs.create_queue(QueueName="full")["QueueUrl"]
        filler = os.path.join(self.disk.path, "filler")
        fill(filler, 300 * 1024)
        # 60 kB sends until the disk is full: one of them is cut short by the full disk
        acknowledged, refused = [], []
        for i in range(40):
            body = f"{i}-{uuid.uuid4().hex}-" + "x" * 60000
            (acknowledged if self.send(sqs, url, body) else refused).append(body)
            if len(refused) >= 3:
                break
        self.assertGreater(len(acknowledged), 2)
        self.assertEqual(len(refused), 3, "the disk never filled")
        self.assertIn("No space left on device", dev.output())
        # a client retrying what was refused adds nothing either
        for body in refused:
            self.assertFalse(self.send(sqs, url, body))
        # nothing refused is delivered, even before a restart (peeked with visibility 0)
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        self.assertTrue({m["Body"] for m in got} <= set(acknowledged))
        # room again: sends are acknowledged and kept
        os.remove(filler)
        after = f"after-{uuid.uuid4().hex}"
        self.assertTrue(self.send(sqs, url, after))
        acknowledged.append(after)
        dev.stop(kill=True)
        with open(os.path.join(self.state, "sqs.journal"), "rb") as f:
            self.assertTrue(f.read().endswith(b"\n"), "the journal does not end on a whole record")
        dev, sqs = self.start()
        url = sqs.get_queue_url(QueueName="full")["QueueUrl"]
        self.assertEqual(sorted(drain(sqs, url)), sorted(acknowledged))
        self.assertNotIn("not a whole record", dev.output())


class Modes(unittest.TestCase):
    def test_the_journal_is_private(self):
        parent = tempfile.mkdtemp(prefix="moonrun-dev-modes-")
        self.addCleanup(shutil.rmtree, parent, True)
        state = os.path.join(parent, "state")
        dev = DevSqs(state, log_dir=parent).start()
        self.addCleanup(dev.stop)
        client(dev).create_queue(QueueName="private")
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(state, "sqs.journal")).st_mode), 0o600)

    def test_each_durability_mode_keeps_what_it_acknowledged(self):
        for mode in ("write", "sync", "interval=50"):
            with self.subTest(mode=mode):
                parent = tempfile.mkdtemp(prefix="moonrun-dev-durability-")
                self.addCleanup(shutil.rmtree, parent, True)
                state = os.path.join(parent, "state")
                dev = DevSqs(state, extra=["--durability", mode], log_dir=parent).start()
                sqs = client(dev)
                url = sqs.create_queue(QueueName="kept")["QueueUrl"]
                bodies = [f"{mode}-{i}" for i in range(30)]
                for body in bodies:
                    sqs.send_message(QueueUrl=url, MessageBody=body)
                dev.stop(kill=True)
                dev = DevSqs(state, log_dir=parent).start()
                sqs = client(dev)
                url = sqs.get_queue_url(QueueName="kept")["QueueUrl"]
                self.assertEqual(sorted(drain(sqs, url)), sorted(bodies))
                dev.stop()

    def test_a_bad_durability_is_a_usage_error(self):
        for bad in ("fsync", "interval=0", "interval=abc", ""):
            with self.subTest(value=bad):
                done = subprocess.run([MOONRUN, "dev", "--sqs-only", "--sqs-port", "0", "--durability", bad],
                                      capture_output=True, text=True, timeout=20)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("--durability takes write, sync, interval or interval=MS", done.stderr)


in_namespace_if_needed()
