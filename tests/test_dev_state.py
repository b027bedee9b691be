"""What `moonrun dev` keeps between runs: queues of an earlier template stay in the state folder
and the banner says so; `--reset` starts afresh, after asking on a terminal.

Run from the repository root: python3 -m unittest -v tests/test_dev_state.py
"""

import os
import pty
import select
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dev_support import MOONRUN, DevTestCase, client_env  # noqa: E402

import boto3  # noqa: E402


def template_with_queue(name):
    return f"""\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: {name}
"""


class TestState(DevTestCase):
    def sqs(self, dev):
        return boto3.client("sqs", endpoint_url=dev.sqs, region_name="us-east-1",
                            aws_access_key_id="AKIAMOONRUNDEV000000", aws_secret_access_key="moonrun-dev-secret")

    def run_first_template(self):
        dev = self.start_dev(self.template(template_with_queue("old-orders"), "first.yaml"), embedded=True)
        sqs = self.sqs(dev)
        url = sqs.get_queue_url(QueueName="old-orders")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="left behind")
        self.stop_dev(dev)

    def test_queues_of_an_earlier_template_are_named_in_the_banner(self):
        self.run_first_template()
        dev = self.start_dev(self.template(template_with_queue("orders"), "second.yaml"), embedded=True)
        dev.wait_for(r"queues\s+orders\s+\(the template's\)")
        dev.wait_for(r"kept\s+old-orders\s+\(not in this template: queues of an earlier one, kept in .*"
                     r"moonrun dev --reset starts afresh\)")
        sqs = self.sqs(dev)
        self.assertEqual(sorted(u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"]), ["old-orders", "orders"])
        self.stop_dev(dev)

    def test_reset_starts_afresh(self):
        self.run_first_template()
        dev = self.start_dev(self.template(template_with_queue("orders"), "second.yaml"), "--reset", embedded=True)
        dev.wait_for(r"--reset: deleted sqs\.journal \(\d+ bytes\)")
        self.assertEqual(dev.count(r"\skept\s+old-orders"), 0)
        sqs = self.sqs(dev)
        self.assertEqual([u.rsplit("/", 1)[1] for u in sqs.list_queues()["QueueUrls"]], ["orders"])
        self.stop_dev(dev)
        # nothing kept yet: said so, and dev starts
        empty = self.path("empty-state")
        dev = self.start_dev(self.template(template_with_queue("orders"), "second.yaml"), "--reset",
                             state=empty, embedded=True)
        dev.wait_for(r"--reset: .*empty-state keeps nothing yet")
        self.stop_dev(dev)

    def reset_on_a_terminal(self, answer):
        argv = [MOONRUN, "dev", self.path("second.yaml"), "--port", "0", "--sqs-port", "0",
                "--state", self.path("state"), "--reset"]
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.tmp)
            os.execve(MOONRUN, argv, client_env())
        screen = b""

        def read_until(text, seconds=20):
            nonlocal screen
            end = time.time() + seconds
            while text not in screen and time.time() < end:
                if select.select([fd], [], [], 0.1)[0]:
                    try:
                        screen += os.read(fd, 4096)
                    except OSError:
                        break
            return text in screen

        self.assertTrue(read_until(b"Delete them? [y/N] "), screen.decode(errors="replace"))
        os.write(fd, answer + b"\r")
        return pid, fd, read_until, lambda: screen.decode(errors="replace")

    def test_reset_asks_on_a_terminal(self):
        self.run_first_template()
        self.template(template_with_queue("orders"), "second.yaml")
        pid, fd, read_until, screen = self.reset_on_a_terminal(b"n")
        self.assertTrue(read_until(b"--reset: nothing was deleted"), screen())
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 1)
        self.assertTrue(os.path.exists(self.path("state", "sqs.journal")))
        pid, fd, read_until, screen = self.reset_on_a_terminal(b"y")
        self.assertTrue(read_until(b"--reset: deleted sqs.journal"), screen())
        self.assertTrue(read_until(b"queues   orders"), screen())
        os.kill(pid, 15)
        os.waitpid(pid, 0)
        os.close(fd)


if __name__ == "__main__":
    unittest.main()
