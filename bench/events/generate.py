#!/usr/bin/env python3
"""Writes the benchmark events small.json and sqs.json next to this script.

The output is deterministic (fixed seed), so re-running it reproduces the committed files.
sqs.json follows the shape of the event Lambda delivers for an SQS trigger: ten records,
each with a ~500-byte JSON body and the correct MD5 of that body in md5OfBody.
"""
import base64
import hashlib
import json
import os
import random
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20240601)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-queue"


def words(n):
    pool = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
            "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
    return " ".join(rng.choice(pool) for _ in range(n))


def message_body(i):
    """An order-like JSON document of about 500 bytes, as a producer might enqueue it."""
    order = {
        "orderId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "customer": {"id": f"C{rng.randrange(10**7):07d}", "name": "Jane Doe",
                     "email": f"customer{i}@example.com", "tier": rng.choice(["gold", "silver"])},
        "items": [{"sku": f"SKU-{rng.randrange(10**5):05d}", "qty": rng.randint(1, 5),
                   "price": round(rng.uniform(1, 200), 2)} for _ in range(3)],
        "currency": "USD",
        "shipping": {"method": "ground", "address": "123 Main St, Springfield, IL 62701"},
        "note": words(8),
        "createdAt": f"2024-06-01T12:{i:02d}:{rng.randrange(60):02d}Z",
    }
    return json.dumps(order, separators=(",", ":"))


def record(i):
    body = message_body(i)
    sent = 1717243200000 + i * 137
    handle = base64.b64encode(rng.randbytes(96)).decode()
    return {
        "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "receiptHandle": "AQEB" + handle,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(sent),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(sent + 3),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def write(name, doc):
    with open(os.path.join(HERE, name), "w") as f:
        # Compact, as the Runtime API delivers events.
        json.dump(doc, f, separators=(",", ":"))


write("small.json", {"key1": "value1", "key2": "value2", "key3": "value3",
                     "count": 42, "enabled": True, "ratio": 0.5})
write("sqs.json", {"Records": [record(i) for i in range(10)]})
