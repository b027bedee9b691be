"""valgrind memcheck over the AWS path in the runtime loop: signing, libcurl requests (single
and concurrent), AWS errors, transport failures and retries, against the fault-injecting
endpoint; fails on any invalid access and on any definite or indirect leak.

Run from the repository root: python3 tests/valgrind_aws.py
Environment: MOONRUN_BIN (default build/moonrun), VALGRIND (default valgrind),
VALGRIND_INVOCATIONS (default 150).
"""

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from aws_support import FaultServer, aws_env, aws_error, free_port  # noqa: E402
from memcheck import Memcheck  # noqa: E402
from runtime_api import RuntimeAPI  # noqa: E402

REPO = os.path.dirname(HERE)


class ErrorsForMissingQueues(FaultServer):
    """The default SQS answers, and QueueDoesNotExist for GetQueueUrl of 'missing'."""

    def default(self, record):
        if record["headers"].get("x-amz-target") == "AmazonSQS.GetQueueUrl" and b"missing" in record["body"]:
            return aws_error(400, "QueueDoesNotExist", "The specified queue does not exist.")
        return super().default(record)


def main():
    count = int(os.environ.get("VALGRIND_INVOCATIONS", "150"))
    binary = os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun"))
    memcheck = Memcheck("valgrind-aws")
    command = memcheck.command(binary)
    server = ErrorsForMissingQueues().start()
    refused = f"http://127.0.0.1:{free_port()}"
    try:
        with RuntimeAPI() as api:
            env = dict(aws_env(server.url), AWS_LAMBDA_RUNTIME_API=api.address,
                       _HANDLER="tests/sqs/producer.handler", LAMBDA_TASK_ROOT=REPO)
            proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                # valgrind makes an invocation 20-50 times slower, and the machine may be busy:
                # a deadline far away, so that no invocation is stopped as a timeout
                far = {"Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 3600 * 1000)}
                ids = [api.push({"i": i, "refused": refused} if i % 10 == 0 else {"i": i}, headers=far)
                       for i in range(count)]
                api.wait_results(len(ids), timeout=900, alive=lambda: proc.poll() is None)
                results = {r.request_id: r for r in api.results}
                bad = [i for i in ids if i not in results or results[i].kind != "response"]
                if bad:
                    print("FAIL: %d invocations did not succeed, e.g. %r" % (len(bad), results.get(bad[0])))
                    return 1
                for i, rid in enumerate(ids):
                    answer = results[rid].json()
                    expected = {"sent": 12, "received": 0, "error": "QueueDoesNotExist"}
                    if any(answer.get(k) != v for k, v in expected.items()) or \
                            (i % 10 == 0 and answer.get("refused") != "EndpointConnectionError"):
                        print("FAIL: invocation %d answered %r" % (i, answer))
                        return 1
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        server.stop()
    print("%d invocations, %d AWS requests, valgrind exit code %d" % (count, len(server.requests), code))
    return memcheck.verdict(code)


if __name__ == "__main__":
    sys.exit(main())
