"""boto3's side of bench/sqs_client.sh: send_message calls per second on one boto3 client (its
connection pool keeps one keep-alive connection for one thread) against bench/canned_sqs.

python3 bench/sqs_client_boto3.py ENDPOINT QUEUE_URL BODY MESSAGE_ID [N] [WARMUP]

Every answer must carry MESSAGE_ID and the MD5 of BODY, so a run that got anything else fails
instead of reporting a rate. Prints: calls=N warmup=W seconds=S rate=R
"""
import hashlib
import sys
import time

import boto3


def main():
    endpoint, queue_url, body, message_id = sys.argv[1:5]
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 3000
    warmup = int(sys.argv[6]) if len(sys.argv) > 6 else 200
    md5 = hashlib.md5(body.encode()).hexdigest()
    client = boto3.client("sqs", endpoint_url=endpoint)

    def send(n):
        for i in range(n):
            result = client.send_message(QueueUrl=queue_url, MessageBody=body)
            if result["MessageId"] != message_id or result["MD5OfMessageBody"] != md5:
                sys.exit(f"call {i + 1}: unexpected answer {result!r}")

    send(warmup)
    start = time.monotonic()
    send(count)
    seconds = time.monotonic() - start
    print(f"calls={count} warmup={warmup} seconds={seconds:.3f} rate={count / seconds:.0f}")


if __name__ == "__main__":
    main()
