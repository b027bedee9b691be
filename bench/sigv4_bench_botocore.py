"""botocore's side of bench/sigv4_bench.lua: SigV4Auth.add_auth on a new AWSRequest (as
botocore makes one per call) for the same SQS SendMessage, for SECONDS; prints rate=N.

python3 bench/sigv4_bench_botocore.py SECONDS BODY
"""
import sys
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials

seconds, body = float(sys.argv[1]), sys.argv[2].encode()
credentials = botocore.credentials.Credentials(
    "ASIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "IQoJb3JpZ2luX2VjEXAMPLETOKEN/////////wEaCXVzLWVhc3QtMSJHMEUCIQD")
signer = botocore.auth.SigV4Auth(credentials, "sqs", "us-east-1")


def sign_once():
    request = botocore.awsrequest.AWSRequest(
        method="POST", url="https://sqs.us-east-1.amazonaws.com/", data=body,
        headers={"Content-Type": "application/x-amz-json-1.0",
                 "X-Amz-Target": "AmazonSQS.SendMessage"})
    signer.add_auth(request)


for _ in range(200):
    sign_once()
count, start = 0, time.monotonic()
while time.monotonic() - start < seconds:
    for _ in range(100):
        sign_once()
    count += 100
print(f"rate={count / (time.monotonic() - start):.0f}")
