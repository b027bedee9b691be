"""`moonrun dev`'s authorizers, as API Gateway runs them before a route's function: JWT
authorizers (tokens signed here with openssl: good, expired, wrong audience, wrong issuer, wrong
key, missing scopes, missing token), Lambda authorizers (an HTTP API's simple answers, a REST
API's TOKEN authorizer with IAM policies, a missing identity source, caching counted by the
authorizer's invocations), and AWS_IAM refused at start.

Run from the repository root: python3 -m unittest -v tests/test_dev_auth.py
"""

import base64
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dev_support import DevTestCase, header, http_request  # noqa: E402


def ran(name):
    """The view's line of one run of the authorizer NAME (not the start-up line naming it)."""
    return rf"authorizer {name}\s+[\d.]+ ms"

ISSUER = "https://issuer.moonrun.test"

TEMPLATE = f"""\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  HttpApi:
    Auth:
      Authorizers:
        Jwt:
          IdentitySource: $request.header.Authorization
          JwtConfiguration:
            issuer: {ISSUER}
            audience: [app-one, app-two]
        Simple:
          FunctionArn: !GetAtt Authorizer.Arn
          AuthorizerPayloadFormatVersion: "2.0"
          EnableSimpleResponses: true
          Identity:
            Headers: [X-Token]
            ReauthorizeEvery: 300
      DefaultAuthorizer: Jwt
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt Policy.Arn
            Identity:
              ReauthorizeEvery: 0
          Req:
            FunctionArn: !GetAtt Policy.Arn
            FunctionPayloadType: REQUEST
            Identity:
              QueryStrings: [key]
  App:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: provided.al2023
      Events:
        Private:
          Type: HttpApi
          Properties: {{Path: /private, Method: GET}}
        Scoped:
          Type: HttpApi
          Properties:
            Path: /scoped
            Method: GET
            Auth: {{Authorizer: Jwt, AuthorizationScopes: [orders/write]}}
        Custom:
          Type: HttpApi
          Properties:
            Path: /custom
            Method: GET
            Auth: {{Authorizer: Simple}}
        Open:
          Type: HttpApi
          Properties:
            Path: /open
            Method: GET
            Auth: {{Authorizer: NONE}}
        Legacy:
          Type: Api
          Properties:
            Path: "/legacy/{{id}}"
            Method: GET
            RestApiId: !Ref Rest
        Items:
          Type: Api
          Properties:
            Path: "/items/{{id}}"
            Method: GET
            RestApiId: !Ref Rest
            Auth: {{Authorizer: Req}}
  Authorizer:
    Type: AWS::Serverless::Function
    Properties: {{CodeUri: fn/, Handler: authz.handler, Runtime: provided.al2023}}
  Policy:
    Type: AWS::Serverless::Function
    Properties: {{CodeUri: fn/, Handler: policy.handler, Runtime: provided.al2023}}
"""

APP_LUA = """\
local json = require "moonrun.json"
return {handler = function(event)
  return {statusCode = 200, headers = {["content-type"] = "application/json"},
          body = json.encode{authorizer = event.requestContext.authorizer or json.null}}
end}
"""

# Allows the token "allow" (with a context), denies "deny", answers 401 for "unauthorized".
AUTHZ_LUA = """\
return {handler = function(event)
  local token = event.headers["x-token"]
  assert(event.type == "REQUEST" and event.identitySource[1] == token and event.routeArn)
  if token == "unauthorized" then error("Unauthorized", 0) end
  if token == "broken" then return {isAuthorized = "yes"} end
  return {isAuthorized = token == "allow", context = {user = "alice", level = 3}}
end}
"""

# A TOKEN authorizer answering IAM policies: "allow" for this method, "deny" explicitly.
POLICY_LUA = """\
return {handler = function(event)
  local token = event.authorizationToken
  if event.type == "REQUEST" then token = event.queryStringParameters.key end
  local effect = token == "allow" and "Allow" or "Deny"
  return {principalId = "user-7", context = {tier = "gold"},
          policyDocument = {Version = "2012-10-17",
                            Statement = {{Action = "execute-api:Invoke", Effect = effect, Resource = event.methodArn}}}}
end}
"""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """An RSA key made with openssl, its JWKS, and tokens signed with it."""

    def __init__(self, directory, name, kid):
        self.pem = os.path.join(directory, name + ".pem")
        subprocess.run(["openssl", "genrsa", "-out", self.pem, "2048"], check=True, capture_output=True)
        modulus = subprocess.run(["openssl", "rsa", "-in", self.pem, "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        self.kid = kid
        self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64url(bytes.fromhex(modulus)), "e": "AQAB"}

    def token(self, kid=None, **claims):
        head = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}).encode())
        body = b64url(json.dumps(claims).encode())
        signed = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.pem], input=f"{head}.{body}".encode(),
                                check=True, capture_output=True).stdout
        return f"{head}.{body}.{b64url(signed)}"


class TestAuthorizers(DevTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.keydir = tempfile.mkdtemp(prefix="moonrun-jwt-")
        cls.good = Keys(cls.keydir, "good", "key-1")
        cls.other = Keys(cls.keydir, "other", "key-1")  # the same kid, another key: a forged token

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.keydir, True)

    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", APP_LUA)
        self.write("fn/authz.lua", AUTHZ_LUA)
        self.write("fn/policy.lua", POLICY_LUA)
        jwks = self.write("jwks.json", json.dumps({"keys": [self.good.jwk]}))
        self.dev = self.start_dev(self.template(TEMPLATE), "--jwks", f"{ISSUER}={jwks}", embedded=True)

    def get(self, path, headers=()):
        status, hdrs, body = http_request(self.dev.front + path, headers=list(headers))
        return status, hdrs, json.loads(body) if body else None

    def claims(self, **extra):
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": "app-two", "sub": "u-1", "iat": now - 5, "exp": now + 300,
                  "scope": "orders/read orders/write"}
        claims.update(extra)
        return claims

    def test_jwt_good_token_passes_claims_on(self):
        for prefix in ("Bearer ", ""):
            status, _, body = self.get("/private", [("Authorization", prefix + self.good.token(**self.claims()))])
            self.assertEqual(status, 200, body)
            jwt = body["authorizer"]["jwt"]
            self.assertEqual(jwt["claims"]["sub"], "u-1")
            self.assertEqual(jwt["claims"]["iss"], ISSUER)
            self.assertRegex(jwt["claims"]["exp"], r"^\d+$")  # claims are text, as API Gateway passes them
            self.assertIsNone(jwt["scopes"])  # the route asks for none

    def test_jwt_bad_tokens_get_401(self):
        now = int(time.time())
        cases = {
            "missing": None,
            "expired": self.good.token(**self.claims(exp=now - 10)),
            "wrong audience": self.good.token(**self.claims(aud="someone-else")),
            "wrong issuer": self.good.token(**self.claims(iss="https://evil.test")),
            "wrong key": self.other.token(**self.claims()),
            "unknown kid": self.good.token(kid="key-9", **self.claims()),
            "not yet valid": self.good.token(**self.claims(nbf=now + 600)),
            "garbage": "not.a.token",
        }
        for name, token in cases.items():
            with self.subTest(name):
                headers = [("Authorization", "Bearer " + token)] if token else []
                status, hdrs, body = self.get("/private", headers)
                self.assertEqual(status, 401, body)
                self.assertEqual(body, {"message": "Unauthorized"})
                if token:
                    self.assertIn('error="invalid_token"', header(hdrs, "www-authenticate"))
        self.assertEqual(self.dev.count(r"App\b.*http GET /private"), 0, "the function never ran")

    def test_jwt_client_id_stands_for_aud(self):
        claims = self.claims(client_id="app-one")
        del claims["aud"]
        status, _, body = self.get("/private", [("Authorization", self.good.token(**claims))])
        self.assertEqual(status, 200, body)

    def test_jwt_scopes(self):
        status, _, body = self.get("/scoped", [("Authorization", self.good.token(**self.claims()))])
        self.assertEqual(status, 200, body)
        self.assertEqual(body["authorizer"]["jwt"]["scopes"], ["orders/read", "orders/write"])
        status, hdrs, body = self.get("/scoped", [("Authorization", self.good.token(**self.claims(scope="orders/read")))])
        self.assertEqual((status, body), (403, {"message": "Forbidden"}))
        self.assertIn('error="insufficient_scope"', header(hdrs, "www-authenticate"))

    def test_none_route_is_open(self):
        status, _, body = self.get("/open")
        self.assertEqual(status, 200, body)
        self.assertIsNone(body["authorizer"])

    def test_lambda_simple_allow_deny_cache(self):
        status, _, body = self.get("/custom")
        self.assertEqual((status, body), (401, {"message": "Unauthorized"}))  # no X-Token: not invoked
        self.assertEqual(self.dev.count(ran("Simple")), 0)
        status, _, body = self.get("/custom", [("X-Token", "allow")])
        self.assertEqual(status, 200, body)
        self.assertEqual(body["authorizer"]["lambda"], {"user": "alice", "level": 3})
        for _ in range(3):  # cached for ReauthorizeEvery: the authorizer ran once
            self.assertEqual(self.get("/custom", [("X-Token", "allow")])[0], 200)
        status, _, body = self.get("/custom", [("X-Token", "deny")])
        self.assertEqual((status, body), (403, {"message": "Forbidden"}))
        status, _, body = self.get("/custom", [("X-Token", "unauthorized")])
        self.assertEqual((status, body), (401, {"message": "Unauthorized"}))
        status, _, body = self.get("/custom", [("X-Token", "broken")])
        self.assertEqual((status, body), (500, {"message": "Internal Server Error"}))
        self.dev.wait_for(r"isAuthorized true or false")
        self.dev.wait_for(ran("Simple"), count=4)
        # allow once (then cached), deny, unauthorized, broken; the route's function ran 4 times
        self.assertEqual(self.dev.count(ran("Simple")), 4, self.dev.stdout())
        self.assertEqual(self.dev.count(r"http GET /custom"), 4, self.dev.stdout())

    def test_rest_token_authorizer_policies(self):
        status, hdrs, body = self.get("/legacy/7", [("Authorization", "allow")])
        self.assertEqual(status, 200, body)
        self.assertEqual(body["authorizer"]["principalId"], "user-7")
        self.assertEqual(body["authorizer"]["tier"], "gold")
        status, hdrs, body = self.get("/legacy/7", [("Authorization", "deny")])
        self.assertEqual(status, 403)
        self.assertEqual(body, {"Message": "User is not authorized to access this resource with an explicit deny"})
        self.assertEqual(header(hdrs, "x-amzn-ErrorType"), "AccessDeniedException")
        status, hdrs, body = self.get("/legacy/7")
        self.assertEqual((status, body), (401, {"message": "Unauthorized"}))
        self.assertEqual(header(hdrs, "x-amzn-ErrorType"), "UnauthorizedException")
        # ReauthorizeEvery: 0, so each request with a token ran the authorizer
        self.dev.wait_for(ran("Token"), count=2)
        self.assertEqual(self.dev.count(ran("Token")), 2)

    def test_rest_request_authorizer_caches_its_policy(self):
        status, _, body = self.get("/items/1")
        self.assertEqual((status, body), (401, {"message": "Unauthorized"}))  # no ?key: not invoked
        status, _, body = self.get("/items/1?key=allow")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.get("/items/1?key=allow")[0], 200)
        # the cached policy (300 s by default) names /items/1 only: another item is refused, as on
        # API Gateway, without running the authorizer again
        status, _, body = self.get("/items/2?key=allow")
        self.assertEqual(status, 403, body)
        self.dev.wait_for(ran("Req"))
        self.assertEqual(self.dev.count(ran("Req")), 1, self.dev.stdout())

    def test_jwks_from_a_url(self):
        import http.server
        import threading
        directory = self.tmp

        class Files(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **k):
                super().__init__(*a, directory=directory, **k)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        other = self.start_dev(self.path("template.yaml"), "--jwks", url, state=self.path("state2"), embedded=True)
        status, _, body = http_request(other.front + "/private", headers=[("Authorization", self.good.token(**self.claims()))])
        self.assertEqual(status, 200, body)
        missing = self.run_dev(self.path("template.yaml"), "--port", "0", "--sqs-port", "0", "--state", self.path("s3"),
                               "--jwks", url.replace("jwks.json", "none.json"))
        self.assertEqual(missing.returncode, 1)
        self.assertIn("cannot read the key set: " + url.replace("jwks.json", "none.json") + " answered 404", missing.stderr)


IAM_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  App:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: provided.al2023
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /x, Method: GET, Auth: {Authorizer: AWS_IAM}}
"""


class TestStartErrors(DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", APP_LUA)

    def test_aws_iam_is_refused_at_start(self):
        p = self.run_dev(self.template(IAM_TEMPLATE), "--port", "0", "--sqs-port", "0", "--state", self.path("s"))
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("Events.Get.Properties.Auth.Authorizer: AWS_IAM authorization", p.stderr)
        self.assertIn("not emulated by moonrun dev", p.stderr)

    def test_unknown_authorizer_and_bad_jwks(self):
        text = IAM_TEMPLATE.replace("Authorizer: AWS_IAM", "Authorizer: Nobody")
        p = self.run_dev(self.template(text), "--port", "0", "--sqs-port", "0", "--state", self.path("s"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("Nobody is not an authorizer of ServerlessHttpApi (it has none)", p.stderr)
        self.write("bad.json", "{\"keys\": 3}")
        text = IAM_TEMPLATE.replace("Auth: {Authorizer: AWS_IAM}", "Auth: {Authorizer: NONE}")
        p = self.run_dev(self.template(text), "--port", "0", "--sqs-port", "0", "--state", self.path("s"),
                         "--jwks", self.path("bad.json"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("--jwks " + self.path("bad.json") + ": not a JWKS document", p.stderr)


if __name__ == "__main__":
    unittest.main()
