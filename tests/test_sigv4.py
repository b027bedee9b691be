"""Tests of moonrun.sigv4, AWS Signature Version 4.

- Every case of AWS's SigV4 test suite (from aws-c-auth), in header mode and in query
  (presigned URL) mode: the canonical request, the string to sign and the signature must be
  exactly the suite's, and the Authorization header or the signed URL's parameters too.
- A differential test against botocore's SigV4Auth and SigV4QueryAuth (with its clock fixed)
  over generated requests: odd paths, reserved and non-ASCII characters in queries, repeated
  keys and headers, session tokens, ports.
- Bad input: each error's text, and that neither the secret nor the token is ever shown.

All requests go through one `moonrun run tests/sigv4/sign_cases.lua` per batch.

The suite is found through MOONRUN_SIGV4_SUITE, else <repo>/../shared/sigv4-test-suite, else
/work/shared/sigv4-test-suite. It is not part of the repository, so SuiteShapes always runs the
suite's request shapes (written out below) with botocore as the reference, in both modes: on a
clone without the suite, the suite's files are the only thing missing (test_suite_found says
so and skips), not the cases they describe. The few shapes botocore cannot model (paths it
always normalizes, omit_session_token) are covered by Behaviour against fixed expectations.

Run from the repository root: python3 -m unittest -v tests/test_sigv4.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import calendar
import datetime
import hashlib
import json
import os
import random
import subprocess
import tempfile
import time
import unittest
import urllib.parse
from unittest import mock

import botocore.auth
import botocore.awsrequest
import botocore.credentials

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MOONRUN = os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun"))
SIGN_CASES = os.path.join(HERE, "sigv4", "sign_cases.lua")

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY-secret-marker"
TOKEN = "FwoGZXIvYXdzEToken+marker/with=padding=="


def suite_candidates():
    paths = []
    if os.environ.get("MOONRUN_SIGV4_SUITE"):
        paths.append(os.environ["MOONRUN_SIGV4_SUITE"])
    paths.append(os.path.join(os.path.dirname(ROOT), "shared", "sigv4-test-suite"))
    paths.append("/work/shared/sigv4-test-suite")
    return paths


def find_suite():
    """The folder holding one folder per case, or None."""
    for path in suite_candidates():
        for folder in (os.path.join(path, "v4"), path):
            if os.path.isfile(os.path.join(folder, "get-vanilla", "context.json")):
                return folder
    return None


def sign_all(requests):
    """Signs each request (a dict of sign's fields) in one moonrun process; returns the answers."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(requests, f)
        path = f.name
    try:
        p = subprocess.run([MOONRUN, "run", SIGN_CASES, path], capture_output=True, timeout=240)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise AssertionError(f"moonrun run failed ({p.returncode}): {p.stderr.decode()}")
    answers = json.loads(p.stdout.decode())
    if len(answers) != len(requests):
        raise AssertionError(f"{len(requests)} requests but {len(answers)} answers")
    return answers


def read_text(folder, name):
    with open(os.path.join(folder, name), "rb") as f:
        return f.read().decode("utf-8")


def parse_request(raw):
    """request.txt as (method, path, [[name, value], ...], body). A line that begins with white
    space continues the previous header's value (the suite's multi-line header)."""
    head, _, body = raw.partition("\n\n")
    lines = head.split("\n")
    method, rest = lines[0].split(" ", 1)
    path = rest.rsplit(" ", 1)[0]
    headers = []
    for line in lines[1:]:
        if not line:
            continue  # the file's final newline
        if line[:1] in (" ", "\t") and headers:
            headers[-1][1] += "\n" + line
        else:
            name, _, value = line.partition(":")
            headers.append([name, value])
    return method, path, headers, body


def suite_request(folder, query_mode):
    context = json.loads(read_text(folder, "context.json"))
    method, path, headers, body = parse_request(read_text(folder, "request.txt"))
    host = next(value for name, value in headers if name.lower() == "host")
    credentials = context["credentials"]
    stamp = datetime.datetime.strptime(context["timestamp"], "%Y-%m-%dT%H:%M:%SZ")
    request = {
        "method": method,
        "url": "https://" + host + path,
        "headers": headers,
        "body": body,
        "access_key_id": credentials["access_key_id"],
        "secret_access_key": credentials["secret_access_key"],
        "region": context["region"],
        "service": context["service"],
        "time": calendar.timegm(stamp.timetuple()),
        "normalize_path": context["normalize"],
        "omit_session_token": context.get("omit_session_token", False),
    }
    if "token" in credentials:
        request["session_token"] = credentials["token"]
    if query_mode:
        request["presign"] = context["expiration_in_seconds"]
    else:
        request["content_sha256_header"] = context["sign_body"]
    return request


def query_params(url):
    return sorted(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def headers_of(answer):
    return answer["headers"] if isinstance(answer["headers"], dict) else {}


class SuiteCases(unittest.TestCase):
    """One test per case of the suite (added below), each checking both modes."""

    answers = {}

    @classmethod
    def setUpClass(cls):
        folder = find_suite()
        if folder is None:
            return  # test_suite_found fails with the places it looked
        requests, keys = [], []
        for name in sorted(os.listdir(folder)):
            for mode in ("header", "query"):
                requests.append(suite_request(os.path.join(folder, name), mode == "query"))
                keys.append((name, mode))
        cls.answers = dict(zip(keys, sign_all(requests)))

    def test_suite_found(self):
        folder = find_suite()
        if folder is None:
            self.skipTest("AWS's SigV4 test suite is not on this machine (looked in "
                          + ", ".join(suite_candidates()) + "; set MOONRUN_SIGV4_SUITE): its "
                          "request shapes are still checked against botocore by SuiteShapes")
        cases = [n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n))]
        self.assertGreaterEqual(len(cases), 30)
        self.assertEqual(len(self.answers), 2 * len(cases))

    def check_case(self, name):
        folder = find_suite()
        self.assertIsNotNone(folder, "the SigV4 test suite was not found; looked in "
                             + ", ".join(suite_candidates()))
        case = os.path.join(folder, name)
        for mode in ("header", "query"):
            with self.subTest(mode=mode):
                answer = self.answers[(name, mode)]
                self.assertNotIn("error", answer, answer.get("error"))
                self.assertEqual(answer["canonical_request"],
                                 read_text(case, f"{mode}-canonical-request.txt"))
                self.assertEqual(answer["string_to_sign"],
                                 read_text(case, f"{mode}-string-to-sign.txt"))
                self.assertEqual(answer["signature"], read_text(case, f"{mode}-signature.txt"))
                signed = read_text(case, f"{mode}-signed-request.txt")
                if mode == "header":
                    self.check_signed_headers(answer, signed)
                else:
                    target = signed.split("\n", 1)[0].split(" ", 1)[1].rsplit(" ", 1)[0]
                    self.assertEqual(query_params(answer["url"]), query_params(target))
                    self.assertEqual(headers_of(answer), {})

    def check_signed_headers(self, answer, signed):
        expected = {}
        for line in signed.split("\n\n", 1)[0].split("\n")[1:]:
            name, _, value = line.partition(":")
            expected[name] = value
        headers = headers_of(answer)
        self.assertEqual(headers["Authorization"], expected["Authorization"])
        self.assertEqual(headers["X-Amz-Date"], expected["X-Amz-Date"])
        for name in ("X-Amz-Security-Token", "x-amz-content-sha256"):
            self.assertEqual(headers.get(name), expected.get(name), name)


def add_suite_tests():
    folder = find_suite()
    if folder is None:
        return
    for name in sorted(os.listdir(folder)):
        if os.path.isdir(os.path.join(folder, name)):
            test = lambda self, name=name: self.check_case(name)
            setattr(SuiteCases, "test_" + name.replace("-", "_"), test)


add_suite_tests()


# The differential test: generated requests, botocore as the reference.

PATH_SEGMENTS = ["a", "b c", "ü", "~user", "x+y", "semi;colon", "eq=al", "%41", "*star*", "€",
                 "colon:at@", "dots..", "", ".", "..", "UPPER", "a'b(c)!", "$dollar,comma"]
QUERY_WORDS = ["a", "b", "Action", "with space", "plus+sign", "slash/", "é", "日本", "=", "&",
               "~-_.", "", "*", "%", "a,b;c", "x-amz-meta"]
HEADER_VALUES = ["plain", "  leading and trailing  ", "inner    runs   of  spaces",
                 "quoted \"a   b\"", "tab\tinside", "ünïcödé", "", "a,b"]


class Recorder:
    """Wraps a botocore signer class to keep the canonical request and string to sign."""

    @staticmethod
    def make(base):
        class Recording(base):
            def canonical_request(self, request):
                self.recorded_cr = super().canonical_request(request)
                return self.recorded_cr

            def string_to_sign(self, request, canonical_request):
                self.recorded_sts = super().string_to_sign(request, canonical_request)
                return self.recorded_sts

        return Recording


def aws_quote(text):
    return urllib.parse.quote(text, safe="-_.~")


def generated_requests(seed=4, count=48):
    rng = random.Random(seed)
    cases = []
    for i in range(count):
        query_mode = i % 3 == 2
        segments = [rng.choice(PATH_SEGMENTS) for _ in range(rng.randint(0, 5))]
        path = "/" + "/".join(urllib.parse.quote(s, safe="-_.~!$'()*+,;=:@") for s in segments)
        if rng.random() < 0.3:
            path += "/"
        params = []
        keys = [rng.choice(QUERY_WORDS) or "k" for _ in range(rng.randint(0, 5))]
        if query_mode:
            keys = list(dict.fromkeys(keys))  # botocore's presigner keeps one value per key
        for key in keys:
            params.append(aws_quote(key) + "=" + aws_quote(rng.choice(QUERY_WORDS)))
        if not query_mode and keys and rng.random() < 0.5:
            params.append(aws_quote(keys[0]) + "=" + "repeat")  # a repeated key
        port = rng.choice(["", "", ":443", ":8443"])
        host = rng.choice(["sqs.us-east-1.amazonaws.com", "example.execute-api.eu-west-1.amazonaws.com",
                           "localhost"])
        url = f"https://{host}{port}{path}" + ("?" + "&".join(params) if params else "")
        headers = [["Content-Type", "application/x-amz-json-1.0"]]
        for j in range(rng.randint(0, 3)):
            headers.append([rng.choice(["X-Custom", "x-amz-meta-Thing", "Accept", f"X-H{j}"]),
                            rng.choice(HEADER_VALUES)])
        if rng.random() < 0.2:
            headers.append(["User-Agent", "moonrun-test"])  # never signed
        body = "" if query_mode else rng.choice(["", '{"QueueUrl": "q", "MessageBody": "ünï"}',
                                                   "Action=SendMessage&x=1"])
        request = {
            "method": "GET" if query_mode else rng.choice(["GET", "POST", "PUT", "DELETE"]),
            "url": url,
            "headers": headers,
            "body": body,
            "access_key_id": rng.choice(["AKIDEXAMPLE", "ASIAQWERTYUIOP123456"]),
            "secret_access_key": rng.choice([SECRET, SECRET[::-1], "short", "x" * 80]),
            "region": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"]),
            "service": rng.choice(["sqs", "execute-api", "dynamodb"]),
            "time": rng.randint(1420070400, 1893456000),
        }
        if rng.random() < 0.4:
            request["session_token"] = TOKEN
        if query_mode:
            request["presign"] = rng.choice([60, 3600, 604800])
        cases.append(request)
    return cases


def botocore_sign(request):
    """(canonical request, string to sign, signature, headers or URL) as botocore makes them."""
    credentials = botocore.credentials.Credentials(
        request["access_key_id"], request["secret_access_key"], request.get("session_token"))
    query_mode = "presign" in request
    if query_mode:
        signer = Recorder.make(botocore.auth.SigV4QueryAuth)(
            credentials, request["service"], request["region"], expires=request["presign"])
    else:
        signer = Recorder.make(botocore.auth.SigV4Auth)(
            credentials, request["service"], request["region"])
    aws_request = botocore.awsrequest.AWSRequest(
        method=request["method"], url=request["url"], data=request.get("body", "").encode())
    for name, value in request["headers"]:
        aws_request.headers[name] = value  # HTTPHeaders keeps repeated names
    moment = datetime.datetime.fromtimestamp(request["time"], datetime.timezone.utc)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=moment):
        signer.add_auth(aws_request)
    return signer.recorded_cr, signer.recorded_sts, aws_request


# The request shapes of AWS's SigV4 suite, as (name, method, target, headers, body, options):
# the same credentials, date, region and service as the suite, signed by moonrun and by
# botocore. Options: "token" (a session token), "form" (a form body, which botocore's presigner
# moves into the query string, so header mode only).
SUITE_KEY_ID = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = calendar.timegm((2015, 8, 30, 12, 36, 0))
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SUITE_SHAPES = [
    ("duplicate header names", "GET", "/", [["My-Header1", "value2"], ["My-Header1", "value2"],
                                            ["My-Header1", "value1"]], "", ()),
    ("multi-line header value", "GET", "/", [["My-Header1", "value1\n  value2\n     value3"]], "", ()),
    ("header values kept in order", "GET", "/",
     [["My-Header1", v] for v in ("value4", "value1", "value3", "value2")], "", ()),
    ("header values trimmed", "GET", "/", [["My-Header1", " value1"], ["My-Header2", ' "a   b   c"']], "", ()),
    ("relative path", "GET", "/example/..", [], "", ()),
    ("relative relative path", "GET", "/example1/example2/../..", [], "", ()),
    ("slash dot slash", "GET", "/./", [], "", ()),
    ("double slash", "GET", "//", [], "", ()),
    ("pointless dot", "GET", "/./example", [], "", ()),
    ("slashes", "GET", "//example//", [], "", ()),
    ("space in the path", "GET", "/example%20space/", [], "", ()),
    ("unreserved path", "GET", "/" + UNRESERVED, [], "", ()),
    ("UTF-8 path", "GET", "/%E1%88%B4", [], "", ()),
    ("vanilla", "GET", "/", [], "", ()),
    ("query with a value", "GET", "/?Param1=value1", [], "", ()),
    ("query order, encoded", "GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1", [], "", ()),
    ("query order, key case", "GET", "/?Param2=value2&Param1=value1", [], "", ()),
    ("unreserved query", "GET", "/?" + UNRESERVED + "=" + UNRESERVED, [], "", ()),
    ("UTF-8 query", "GET", "/?%E1%88%B4=bar", [], "", ()),
    ("session token", "GET", "/", [], "", ("token",)),
    ("POST header key case", "POST", "/", [], "", ()),
    ("POST header key sort", "POST", "/", [["My-Header1", "value1"]], "", ()),
    ("POST header value case", "POST", "/", [["My-Header1", "VALUE1"]], "", ()),
    ("POST with a session token", "POST", "/", [], "", ("token",)),
    ("POST vanilla", "POST", "/", [], "", ()),
    ("POST with a query", "POST", "/?Param1=value1", [], "", ()),
    ("form body", "POST", "/", [["Content-Type", "application/x-www-form-urlencoded"]],
     "Param1=value1", ("form",)),
    ("form body with charset", "POST", "/",
     [["Content-Type", "application/x-www-form-urlencoded; charset=utf-8"]], "Param1=value1", ("form",)),
]
SUITE_TOKEN = "AQoDYXdzEPT//////////wEXAMPLE-session-token"


def shape_requests():
    """(name, mode, request) for every shape in both modes (header mode only for forms)."""
    out = []
    for name, method, target, headers, body, options in SUITE_SHAPES:
        for mode in ("header", "query"):
            if mode == "query" and "form" in options:
                continue
            request = {"method": method, "url": "https://example.amazonaws.com" + target,
                       "headers": [["Host", "example.amazonaws.com"]] + [list(h) for h in headers],
                       "body": body, "access_key_id": SUITE_KEY_ID,
                       "secret_access_key": SUITE_SECRET, "region": "us-east-1",
                       "service": "service", "time": SUITE_TIME}
            if "token" in options:
                request["session_token"] = SUITE_TOKEN
            if mode == "query":
                request["presign"] = 3600
            out.append((name, mode, request))
    return out


class SuiteShapes(unittest.TestCase):
    """The suite's request shapes, signed by moonrun and by botocore, in both modes."""

    def test_shapes_match_botocore(self):
        cases = shape_requests()
        self.assertGreaterEqual(len(cases), 50)
        answers = sign_all([request for _, _, request in cases])
        for (name, mode, request), answer in zip(cases, answers):
            with self.subTest(shape=name, mode=mode):
                self.assertNotIn("error", answer, answer.get("error"))
                cr, sts, signed = botocore_sign(request)
                self.assertEqual(answer["canonical_request"], cr)
                self.assertEqual(answer["string_to_sign"], sts)
                if mode == "query":
                    self.assertEqual(query_params(answer["url"]), query_params(signed.url))
                    self.assertEqual(answer["signature"],
                                     dict(query_params(signed.url))["X-Amz-Signature"])
                    self.assertEqual(headers_of(answer), {})
                else:
                    headers = headers_of(answer)
                    self.assertEqual(headers["Authorization"], signed.headers["Authorization"])
                    self.assertEqual(headers["X-Amz-Date"], signed.headers["X-Amz-Date"])
                    self.assertEqual(headers.get("X-Amz-Security-Token"),
                                     signed.headers.get("X-Amz-Security-Token"))

    def test_a_wrong_signature_is_caught(self):
        # the comparison can fail: a different secret gives a different signature than botocore's
        _, _, request = shape_requests()[0]
        [answer] = sign_all([dict(request, secret_access_key=SUITE_SECRET + "x")])
        _, _, signed = botocore_sign(request)
        self.assertNotEqual(answer["headers"]["Authorization"], signed.headers["Authorization"])


class Differential(unittest.TestCase):
    def test_matches_botocore(self):
        requests = generated_requests()
        # repeated headers, which botocore joins with ',' in order
        requests[0]["headers"] += [["X-Dup", "one"], ["x-dup", " two "], ["X-DUP", "three"]]
        answers = sign_all(requests)
        for i, (request, answer) in enumerate(zip(requests, answers)):
            with self.subTest(i=i, url=request["url"]):
                self.assertNotIn("error", answer, answer.get("error"))
                cr, sts, signed = botocore_sign(request)
                self.assertEqual(answer["canonical_request"], cr)
                self.assertEqual(answer["string_to_sign"], sts)
                if "presign" in request:
                    self.assertEqual(query_params(answer["url"]), query_params(signed.url))
                    self.assertEqual(answer["signature"],
                                     dict(query_params(signed.url))["X-Amz-Signature"])
                else:
                    headers = headers_of(answer)
                    self.assertEqual(headers["Authorization"], signed.headers["Authorization"])
                    self.assertEqual(headers["X-Amz-Date"], signed.headers["X-Amz-Date"])
                    self.assertEqual(headers.get("X-Amz-Security-Token"),
                                     signed.headers.get("X-Amz-Security-Token"))
                    self.assertEqual(answer["url"], request["url"])

    def test_generated_requests_are_varied(self):
        requests = generated_requests()
        self.assertGreaterEqual(len(requests), 40)
        self.assertTrue(any("presign" in r for r in requests))
        self.assertTrue(any("session_token" in r for r in requests))
        self.assertTrue(any("%25" in r["url"] or "%C3" in r["url"] for r in requests))
        self.assertTrue(any("/../" in r["url"] or "//" in r["url"][8:] for r in requests))


def base_request(**changes):
    request = {"method": "POST", "url": "https://sqs.us-east-1.amazonaws.com/",
               "access_key_id": "AKIDEXAMPLE", "secret_access_key": SECRET,
               "session_token": TOKEN, "region": "us-east-1", "service": "sqs",
               "time": 1369353600}
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


class Behaviour(unittest.TestCase):
    """What the module returns, beyond the suite: modes, defaults, S3, the key cache."""

    def test_header_mode_result(self):
        body = '{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/1/q","MessageBody":"hi"}'
        [s] = sign_all([base_request(body=body, content_sha256_header=True,
                                     headers={"Content-Type": "application/x-amz-json-1.0"})])
        self.assertEqual(set(s["headers"]), {"X-Amz-Date", "Authorization",
                                              "X-Amz-Security-Token", "x-amz-content-sha256"})
        self.assertEqual(s["headers"]["X-Amz-Date"], "20130524T000000Z")
        self.assertEqual(s["amz_date"], "20130524T000000Z")
        self.assertEqual(s["headers"]["X-Amz-Security-Token"], TOKEN)
        self.assertEqual(s["headers"]["x-amz-content-sha256"], hashlib.sha256(body.encode()).hexdigest())
        self.assertEqual(s["url"], "https://sqs.us-east-1.amazonaws.com/")
        self.assertIn("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
                      "x-amz-security-token, Signature=" + s["signature"], s["headers"]["Authorization"])

    def test_payload_hash_and_float_time(self):
        [a, b] = sign_all([base_request(payload_hash="UNSIGNED-PAYLOAD", body="ignored"),
                           base_request(payload_hash="UNSIGNED-PAYLOAD", time=1369353600.9)])
        self.assertTrue(a["canonical_request"].endswith("\nUNSIGNED-PAYLOAD"))
        self.assertEqual(a["signature"], b["signature"])

    def test_default_time_is_now(self):
        before = time.gmtime(time.time() - 1)
        [s] = sign_all([base_request(time=None)])
        after = time.gmtime(time.time() + 1)
        self.assertLessEqual(time.strftime("%Y%m%dT%H%M%SZ", before), s["amz_date"])
        self.assertLessEqual(s["amz_date"], time.strftime("%Y%m%dT%H%M%SZ", after))

    def test_presign_keeps_query_and_fragment_is_dropped(self):
        [s] = sign_all([base_request(method="GET", url="https://h.example.com/p?Action=List#frag",
                                     presign=900)])
        self.assertTrue(s["url"].startswith("https://h.example.com/p?Action=List&X-Amz-Algorithm="))
        self.assertTrue(s["url"].endswith("&X-Amz-Signature=" + s["signature"]))
        self.assertNotIn("#", s["url"])
        self.assertEqual(dict(query_params(s["url"]))["X-Amz-Security-Token"], TOKEN)
        self.assertEqual(headers_of(s), {})

    def test_omit_session_token(self):
        [h, q] = sign_all([base_request(omit_session_token=True),
                           base_request(omit_session_token=True, presign=60)])
        self.assertNotIn("x-amz-security-token", h["canonical_request"])
        self.assertEqual(h["headers"]["X-Amz-Security-Token"], TOKEN)
        self.assertNotIn("Security-Token", q["canonical_request"])
        self.assertEqual(dict(query_params(q["url"]))["X-Amz-Security-Token"], TOKEN)

    def test_s3_is_neither_normalized_nor_double_encoded(self):
        url = "https://bucket.s3.amazonaws.com/a//b/../c%20d/e f"
        [s3, other] = sign_all([base_request(url=url, service="s3"),
                                base_request(url=url, service="sqs", normalize_path=False)])
        self.assertEqual(s3["canonical_request"].split("\n")[1], "/a//b/../c%20d/e%20f")
        self.assertEqual(other["canonical_request"].split("\n")[1], "/a//b/../c%2520d/e%20f")

    def test_host_header_from_url(self):
        [a, b, c] = sign_all([base_request(url="https://h.example.com:443/"),
                              base_request(url="http://h.example.com:8080/"),
                              base_request(headers=[["Host", "other.example.com"]])])
        self.assertIn("\nhost:h.example.com\n", a["canonical_request"])
        self.assertIn("\nhost:h.example.com:8080\n", b["canonical_request"])
        self.assertIn("\nhost:other.example.com\n", c["canonical_request"])

    def test_key_cache_follows_secret_region_service_and_date(self):
        # the signing key is cached: changing any part must change the signature, and going
        # back must give the first one again
        variants = [base_request(), base_request(secret_access_key="other"),
                    base_request(region="eu-west-1"), base_request(service="sns"),
                    base_request(time=1369353600 + 86400), base_request(region="ap-south-1"),
                    base_request()]
        answers = sign_all(variants)
        signatures = [a["signature"] for a in answers]
        self.assertEqual(len(set(signatures[:6])), 6)
        self.assertEqual(signatures[0], signatures[6])
        for request, answer in zip(variants, answers):
            request = dict(request, headers=[])
            _, _, signed = botocore_sign(request)
            self.assertEqual(answer["headers"]["Authorization"], signed.headers["Authorization"])


class BadInput(unittest.TestCase):
    CASES = [
        (base_request(method=None), "sigv4: 'method' is required"),
        (base_request(url=None), "sigv4: 'url' is required"),
        (base_request(region=None), "sigv4: 'region' is required"),
        (base_request(service=None), "sigv4: 'service' is required"),
        (base_request(access_key_id=None), "sigv4: 'access_key_id' is required"),
        (base_request(secret_access_key=None), "sigv4: 'secret_access_key' is required"),
        (base_request(url="ftp://host/"),
         "sigv4: 'url' must be an absolute http or https URL, got 'ftp://host/'"),
        (base_request(url="/relative/path"),
         "sigv4: 'url' must be an absolute http or https URL, got '/relative/path'"),
        (base_request(url="https:///path"),
         "sigv4: 'url' must be an absolute http or https URL, got 'https:///path'"),
        (base_request(url="https://user:pw@host/"),
         "sigv4: 'url' must be an absolute http or https URL, got 'https://user:pw@host/'"),
        (base_request(url="https://host:99999/"),
         "sigv4: 'url' must have a port from 1 to 65535 after the host, got 'https://host:99999/'"),
        (base_request(url="https://host:http/"),
         "sigv4: 'url' must have a port from 1 to 65535 after the host, got 'https://host:http/'"),
        (base_request(url="https://host/a\nb"), "sigv4: 'url' must not contain control characters"),
        (base_request(url=42), "sigv4: 'url' must be a string, got number"),
        (base_request(headers={"X-Count": 3}),
         "sigv4: header 'X-Count' must have a string value, got number"),
        (base_request(headers={"X-Flag": True}),
         "sigv4: header 'X-Flag' must have a string value, got boolean"),
        (base_request(headers=[["X-A", "1"], "X-B: 2"]),
         "sigv4: headers[2] must be a {name, value} pair, got string"),
        (base_request(headers=[[1, "v"]]),
         "sigv4: headers[1][1], the header's name, must be a string, got number"),
        (base_request(headers=[["X-A"]]), "sigv4: header 'X-A' must have a string value, got nil"),
        (base_request(headers="Host: x"), "sigv4: 'headers' must be a table, got string"),
        (base_request(headers={"Bad Name": "v"}),
         "sigv4: header name 'Bad Name' is not a valid HTTP header name"),
        (base_request(region="us/east"),
         "sigv4: 'region' must be a region name like us-east-1, got 'us/east'"),
        (base_request(service=""), "sigv4: 'service' must be a signing name like sqs or s3, got ''"),
        (base_request(method="GET /"), "sigv4: 'method' must be an HTTP method like GET or POST"),
        (base_request(secret_access_key=""), "sigv4: 'secret_access_key' is empty"),
        (base_request(secret_access_key=12345),
         "sigv4: 'secret_access_key' must be a string, got number"),
        (base_request(session_token={"t": 1}), "sigv4: 'session_token' must be a string, got table"),
        (base_request(time="now"),
         "sigv4: 'time' must be a number of seconds since the epoch, got string"),
        (base_request(time=-5), "sigv4: 'time' must be from 0 to 253402300799 seconds since the epoch"),
        (base_request(presign=0),
         "sigv4: 'presign' must be a whole number of seconds from 1 to 604800, got 0"),
        (base_request(presign=604801),
         "sigv4: 'presign' must be a whole number of seconds from 1 to 604800, got 604801"),
        (base_request(presign=1.5),
         "sigv4: 'presign' must be a whole number of seconds from 1 to 604800, got 1.5"),
        (base_request(normalize_path="yes"), "sigv4: 'normalize_path' must be a boolean, got string"),
        (base_request(payload_hash="two words"),
         "sigv4: 'payload_hash' must be a hex SHA-256 or a value like UNSIGNED-PAYLOAD"),
        (base_request(sesion_token=TOKEN), "sigv4: unknown field 'sesion_token'"),
        ({"__arg": "GET https://x/"}, "sigv4: sign expects a table of fields, got string"),
        # the secret in the URL itself must not come back in the message
        (base_request(url="https://host:bad/" + SECRET),
         "sigv4: the request cannot be signed (the reason would show a credential)"),
        (base_request(url="ftp://" + TOKEN),
         "sigv4: the request cannot be signed (the reason would show a credential)"),
    ]

    def test_errors(self):
        answers = sign_all([request for request, _ in self.CASES])
        for (request, expected), answer in zip(self.CASES, answers):
            with self.subTest(expected=expected):
                self.assertEqual(answer.get("error"), expected)
                self.assertNotIn(SECRET, answer["error"])
                self.assertNotIn(TOKEN, answer["error"])

    def test_good_request_still_signs_after_errors(self):
        answers = sign_all([base_request(url="ftp://x/"), base_request()])
        self.assertIn("error", answers[0])
        self.assertEqual(len(answers[1]["signature"]), 64)


class ConfigurationRules(unittest.TestCase):
    """Rules from issue 20: a port written with leading zeros is signed as the HTTP client sends
    it, a caller's x-amz-content-sha256 is the payload hash signed, and a map's names that
    differ only in case are joined in one order whatever the table's."""

    BASE = {"method": "PUT", "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "region": "us-east-1",
            "service": "s3", "time": 1440938160, "body": "data"}

    def test_port_with_leading_zeros_matches_botocore(self):
        for url, host in (("http://127.0.0.1:08778/x", "127.0.0.1:8778"),
                          ("https://example.com:0443/x", "example.com"),
                          ("http://example.com:00080/x", "example.com")):
            request = dict(self.BASE, url=url, headers=[])
            answer = sign_all([request])[0]
            cr, _, _ = botocore_sign(request)
            self.assertEqual(answer["canonical_request"], cr, url)
            self.assertIn("\nhost:" + host + "\n", answer["canonical_request"])

    def test_port_with_leading_zeros_is_what_is_sent(self):
        import http.server
        import threading
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = None
        for port in range(8100, 9999, 37):  # four digits, so that a leading zero still fits
            try:
                server = http.server.HTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        if server is None:
            self.fail("no free four-digit port on 127.0.0.1")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:0{server.server_address[1]}/"
            code = rf"""
                local sigv4, http = require "moonrun.sigv4", require "moonrun.http"
                local signed = sigv4.sign{{method = "GET", url = "{url}", access_key_id = "A",
                  secret_access_key = "s", region = "us-east-1", service = "sqs"}}
                assert(http.request{{method = "GET", url = "{url}", headers = signed.headers}})
                return signed.canonical_request:match("\nhost:([^\n]*)")"""
            p = subprocess.run([MOONRUN, "run", "-"], input=f"print(load([==[{code}]==])())".encode(),
                               capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(seen, [p.stdout.decode().strip()])
        finally:
            server.shutdown()
            server.server_close()

    def test_callers_content_sha256_is_the_payload_hash(self):
        for value in ("UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", hashlib.sha256(b"x").hexdigest()):
            request = dict(self.BASE, url="https://bucket.s3.amazonaws.com/key",
                           headers=[["X-Amz-Content-SHA256", value]])
            answer = sign_all([request])[0]
            self.assertTrue(answer["canonical_request"].endswith("\n" + value), answer["canonical_request"])
            self.assertIn("x-amz-content-sha256:" + value + "\n", answer["canonical_request"])
        bad = sign_all([dict(self.BASE, url="https://b.s3.amazonaws.com/k",
                             headers=[["x-amz-content-sha256", "not a hash"]])])[0]
        self.assertIn("x-amz-content-sha256 header must be", bad["error"])

    def test_map_names_in_different_cases_are_joined_in_one_order(self):
        code = r"""
            local sigv4 = require "moonrun.sigv4"
            local seen = {}
            for i = 1, 200 do
              local headers = {}
              -- tables built in different orders and sizes, so their hash order differs
              for j = 1, i % 7 do headers["x-pad-" .. j] = "p" end
              if i % 2 == 0 then headers["X-Foo"] = "upper"; headers["x-foo"] = "lower"
              else headers["x-foo"] = "lower"; headers["X-Foo"] = "upper" end
              local signed = sigv4.sign{method = "GET", url = "https://example.com/", headers = headers,
                access_key_id = "A", secret_access_key = "s", region = "us-east-1", service = "sqs",
                time = 0}
              seen[signed.canonical_request:match("\nx%-foo:([^\n]*)")] = true
            end
            local out = {}
            for value in pairs(seen) do out[#out + 1] = value end
            print(table.concat(out, " | "))"""
        p = subprocess.run([MOONRUN, "run", "-"], input=code.encode(), capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout.decode().strip(), "upper,lower")


if __name__ == "__main__":
    unittest.main()
