"""moonrun's AWS configuration held against botocore's (the reference, installed here): over
generated set-ups of the environment, both shared files, profiles, credential processes, a
container endpoint served here and STS on moto, the resolved key id, whether there is a session
token, the region and the SQS endpoint must be botocore's, or an error in both. Differences
moonrun makes on purpose are listed in docs/lua-library.md ("Where moonrun differs from
botocore") and are not generated here. Secrets are written into every place moonrun reads, and every line
moonrun prints and every error value is checked for them.

Run from the repository root: python3 -m unittest -v tests/test_aws_config.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE.
"""

import datetime
import itertools
import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import (MOONRUN, SECRETS, FaultServer, MotoServer, aws_env, respond, run_lua,  # noqa: E402
                         run_lua_process)

SECRET = SECRETS[0]  # the test secret: never to be printed
TOKEN = SECRETS[1]

# Resolves each (environment, profile) of a JSON list on stdin in this one process: botocore
# reads os.environ when asked, so each set-up's environment is put in place before its session.
BOTOCORE_SIDE = r"""
import json, os, sys
import botocore.session

def resolve(profile):
    out = {}
    try:
        session = botocore.session.Session(profile=profile)
        c = session.get_credentials()
        if c is not None:
            f = c.get_frozen_credentials()
            out["key"], out["token"] = f.access_key, bool(f.token)
    except Exception as e:
        out["error"] = type(e).__name__
    try:
        session = botocore.session.Session(profile=profile)
        out["region"] = session.get_config_variable("region")
        client = session.create_client("sqs", region_name=out["region"] or "us-east-1",
                                       aws_access_key_id="x", aws_secret_access_key="y")
        out["endpoint"] = client.meta.endpoint_url
    except Exception as e:
        out["config_error"] = type(e).__name__
    return out

answers = []
for env, profile in json.load(sys.stdin):
    os.environ.clear()
    os.environ.update(env)
    answers.append(resolve(profile))
print(json.dumps(answers))
"""

MOONRUN_SIDE = r"""
local aws = require "moonrun.aws"
local options = {profile = %s}
local out = {}
local ok, c = pcall(aws.credentials, options)
if ok then out.key, out.token = c.access_key_id, c.session_token ~= nil
else out.error, out.message = c.code, tostring(c) end
local ok2, region = pcall(aws.region, options)
if ok2 then
  out.region = region
  local ok3, url = pcall(aws.endpoint, {service_id = "SQS", endpoint_prefix = "sqs"},
    region or "us-east-1", options)
  if ok3 then out.endpoint = url else out.config_error, out.config_message = url.code, tostring(url) end
else
  out.config_error, out.config_message = region.code, tostring(region)
end
return out
"""


def base_env(home):
    env = aws_env()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"):
        env.pop(key)
    env.update(HOME=home, AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, "credentials"),
               AWS_CONFIG_FILE=os.path.join(home, "config"), AWS_EC2_METADATA_DISABLED="true")
    return env


def botocore_resolve_many(setups):
    """botocore's answers for a list of (environment, profile), in one Python process."""
    p = subprocess.run([sys.executable, "-c", BOTOCORE_SIDE], input=json.dumps(setups).encode(),
                       capture_output=True, env=os.environ, timeout=600)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode())
    return json.loads(p.stdout)


def botocore_resolve(env, profile):
    return botocore_resolve_many([(env, profile)])[0]


# A web identity token is a secret too: run_lua checks the SECRETS, this is checked here.
WEB_TOKEN = "moonrun-web-identity-token-3f9a1c"


def moonrun_resolve(env, profile):
    answer, p = run_lua(MOONRUN_SIDE % (json.dumps(profile) if profile else "nil"), env)
    if WEB_TOKEN.encode() in p.stdout + p.stderr:
        raise AssertionError("the web identity token appears in moonrun's output")
    return answer["result"]


def comparable(out, reference=None):
    """What must agree: the key id and token presence, none found, or a failure; the region;
    the endpoint, or that configuration failed. With reference (botocore's answer) given: a
    malformed file fails everything in botocore, but only what reads the files in moonrun (an
    intended difference, see docs/lua-library.md), so credentials from the environment are not compared
    then."""
    if out.get("key"):
        credentials = (out["key"], out.get("token", False))
    elif "error" not in out or out.get("message", "").startswith("NoCredentialsError: no AWS credentials found"):
        credentials = "none"
    else:
        credentials = "failed"
    if reference is not None and reference.get("error") == "ConfigParseError":
        credentials = "failed"
    return {"credentials": credentials,
            "region": out.get("region") if "config_error" not in out else None,
            "endpoint": out.get("endpoint"), "config_failed": "config_error" in out}


def write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode:
        os.chmod(path, mode)


# The pieces set-ups are made of. Each credentials/config text is a template over {secret}.
CREDENTIAL_FILES = {
    "none": None,
    "default": "[default]\naws_access_key_id = AKIDCREDDEFAULT\naws_secret_access_key = {secret}\n",
    "colon+dev": "[default]\naws_access_key_id: AKIDCOLON\naws_secret_access_key: {secret}\n"
                 "[dev]\naws_access_key_id=AKIDCREDDEV\naws_secret_access_key={secret}\n"
                 "aws_security_token = {token}\n",
    "id-only": "[dev]\naws_access_key_id = AKIDHALF\n",
    "secret-only": "[dev]\naws_secret_access_key = {secret}\n",
    "comments": "# a comment\n; another\n[default]\naws_access_key_id = AKIDINLINE # not a comment\n"
                "aws_secret_access_key = {secret}\n  \n[dev]\n  aws_access_key_id = AKIDINDENT\n"
                "  aws_secret_access_key = {secret}\n",
    "duplicate-section": "[dev]\naws_access_key_id = A\n[dev]\naws_secret_access_key = {secret}\n",
    "no-equals": "[default]\n{secret}\n",
    "before-section": "aws_secret_access_key = {secret}\n[default]\n",
    "region": "[dev]\nregion = eu-north-1\naws_access_key_id = AKIDREGION\naws_secret_access_key = {secret}\n",
}

CONFIG_FILES = {
    "none": None,
    "default": "[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\n",
    "spaced": "[profile  dev]\nregion = ca-central-1\naws_access_key_id = AKIDCONFIGDEV\n"
              "aws_secret_access_key = {secret}\n[profile \"ops\"]\nregion = us-west-2\n",
    "token-in-config": "[default]\naws_session_token = {token}\nregion = us-east-2\n"
                       "[profile dev]\naws_session_token = {token}\n",
    "secret-in-config": "[profile dev]\naws_secret_access_key = {secret}\n",
    "services": "[default]\nregion = eu-west-3\nservices = local\n[profile dev]\nservices = local\n"
                "endpoint_url = http://127.0.0.1:4999\n[services local]\nsqs =\n"
                "  endpoint_url = http://127.0.0.1:4566\n",
    "ignore-endpoints": "[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:4999\n"
                        "ignore_configured_endpoint_urls = true\n[profile dev]\nendpoint_url = http://localhost:1\n",
    "fips": "[default]\nregion = us-gov-west-1\nuse_fips_endpoint = true\n[profile dev]\n"
            "region = cn-north-1\nuse_dualstack_endpoint = TRUE\n",
    "iso": "[default]\nregion = us-iso-east-1\n[profile dev]\nregion = eu-isoe-west-1\n",
    "sso": "[profile dev]\nsso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
           "sso_account_id = 1\nsso_role_name = r\n",
    "missing-services": "[default]\nservices = nowhere\n",
    "dup-default": "[default]\nregion = eu-west-1\n[profile default]\nregion = eu-west-2\n",
    "bad-nested": "[default]\ns3 =\n  not a setting\n",
}

ENVIRONMENTS = {
    "none": {},
    "keys": {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": SECRET},
    "keys+security-token": {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": SECRET,
                            "AWS_SECURITY_TOKEN": TOKEN},
    "profile-dev": {"AWS_PROFILE": "dev"},
    "both-profiles": {"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "default"},
    "default-profile-dev": {"AWS_DEFAULT_PROFILE": "dev"},
    "keys+profile-dev": {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_PROFILE": "dev"},
    "region+endpoint": {"AWS_DEFAULT_REGION": "sa-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:4000"},
    "endpoint-sqs+ignore": {"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4001",
                            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
    "fips+dualstack": {"AWS_USE_FIPS_ENDPOINT": "true", "AWS_USE_DUALSTACK_ENDPOINT": "true",
                       "AWS_DEFAULT_REGION": "eusc-de-east-1"},
    "missing-profile": {"AWS_PROFILE": "nobody"},
    "keys+expired": {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": SECRET,
                     "AWS_SESSION_TOKEN": TOKEN, "AWS_CREDENTIAL_EXPIRATION": "2020-01-01T00:00:00Z"},
    "keys+expiring": {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": SECRET,
                      "AWS_SESSION_TOKEN": TOKEN, "AWS_CREDENTIAL_EXPIRATION": "2099-01-01T00:00:00Z"},
}


def setups():
    """A deterministic spread over the pieces: every credentials file and every config file with
    each environment in turn, and each with and without an explicit profile."""
    cred_names, config_names, env_names = list(CREDENTIAL_FILES), list(CONFIG_FILES), list(ENVIRONMENTS)
    seen = set()
    for i, (cred, config) in enumerate(itertools.product(cred_names, config_names)):
        env = env_names[i % len(env_names)]
        profile = [None, "dev"][(i // len(env_names)) % 2]
        seen.add((cred, config, env, profile))
    for env in env_names:  # every environment with the richest files too
        seen.add(("colon+dev", "services", env, None))
        seen.add(("colon+dev", "spaced", env, "dev"))  # a named profile against the environment's keys
        seen.add(("default", "default", env, "dev"))
    return sorted(seen, key=lambda s: tuple(str(x) for x in s))


class Differential(unittest.TestCase):
    def test_generated_setups_match_botocore(self):
        cases = setups()
        self.assertGreaterEqual(len(cases), 150)
        with tempfile.TemporaryDirectory() as top:
            prepared = []
            for n, (cred, config, env_name, profile) in enumerate(cases):
                home = os.path.join(top, str(n))
                os.mkdir(home)
                env = base_env(home)
                env.update(ENVIRONMENTS[env_name])
                if CREDENTIAL_FILES[cred]:
                    write(env["AWS_SHARED_CREDENTIALS_FILE"],
                          CREDENTIAL_FILES[cred].format(secret=SECRET, token=TOKEN))
                if CONFIG_FILES[config]:
                    write(env["AWS_CONFIG_FILE"], CONFIG_FILES[config].format(secret=SECRET, token=TOKEN))
                prepared.append((env, profile))
            references = botocore_resolve_many(prepared)
            failures = []
            for (cred, config, env_name, profile), (env, _), reference in zip(cases, prepared, references):
                ours = moonrun_resolve(env, profile)
                for text in (ours.get("message", ""), ours.get("config_message", "")):
                    self.assertNotIn(SECRET, text)
                    self.assertNotIn(TOKEN, text)
                if comparable(reference) != comparable(ours, reference):
                    failures.append(f"credentials={cred} config={config} env={env_name} profile={profile}:\n"
                                    f"  botocore {reference}\n  moonrun  {ours}")
        self.assertEqual(failures, [], "\n".join(failures))


INI_PIECES = [
    "[default]", "[dev]", "[profile dev]", "[DEFAULT]", "[ spaced ]", "[a]b]", "[]", "[open",
    "key = value", "Key: Value", "key=", "other = x # not a comment", "other=y ; nor this",
    "= nameless", "novalue", "# comment", "; comment", "  # indented comment", "",  "   ",
    "s3 =", "  addressing_style = path", "  nested_without_equals", "\tsignature_version = s3v4",
    "  continued text", "URL = http://h:1/p?q=1", "x:y=z", "key = again",
]


def random_ini(rng):
    lines = [rng.choice(INI_PIECES) for _ in range(rng.randint(1, 9))]
    if rng.random() < 0.7:
        lines.insert(0, rng.choice(["[default]", "[dev]", "[DEFAULT]"]))
    return rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])


# Reads a JSON list of texts from stdin; prints each parsed ({section = {key = value}}) or "error".
INI_MOONRUN = r"""
local ini = require "moonrun.aws.ini"
local json = require "moonrun.json"
local out = {}
for i, text in ipairs(json.decode(io.read("a"))) do
  local ok, parsed = pcall(ini.parse, text, "f")
  out[i] = ok and parsed.sections or "error"
end
print(json.encode(out))
"""

# Reads a JSON list of section names from stdin; prints each split into words, or "error".
SPLIT_MOONRUN = r"""
local ini = require "moonrun.aws.ini"
local json = require "moonrun.json"
local out = {}
for i, name in ipairs(json.decode(io.read("a"))) do
  out[i] = ini.split_words(name) or "error"
end
print(json.encode(out))
"""


def run_script(code, data):
    """Runs a Lua script with moonrun, data (JSON) on its stdin; returns what it printed, decoded."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(code)
    try:
        p = subprocess.run([MOONRUN, "run", f.name], input=json.dumps(data).encode(),
                           capture_output=True, timeout=120)
    finally:
        os.unlink(f.name)
    if p.returncode != 0:
        raise AssertionError(p.stderr.decode())
    return json.loads(p.stdout)


INI_BOTOCORE = r"""
import json, os, sys, tempfile
import botocore.configloader, botocore.exceptions
out = []
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "f")
    for text in json.load(sys.stdin):
        with open(path, "w", newline="") as f:
            f.write(text)
        try:
            out.append(botocore.configloader.raw_config_parse(path))
        except botocore.exceptions.ConfigParseError:
            out.append("error")
print(json.dumps(out))
"""


class IniDialect(unittest.TestCase):
    """The shared files' parser against botocore's on random files made of tricky lines."""

    def test_random_files_parse_as_botocore_parses_them(self):
        import random
        rng = random.Random(20)
        texts = [random_ini(rng) for _ in range(2000)]
        p = subprocess.run([sys.executable, "-c", INI_BOTOCORE], input=json.dumps(texts).encode(),
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        reference = json.loads(p.stdout)
        ours = run_script(INI_MOONRUN, texts)
        self.assertGreater(sum(1 for r in reference if r == "error"), 40)
        self.assertGreater(sum(1 for r in reference if r != "error"), 40)
        mismatches = [f"{text!r}\n  botocore {expected}\n  moonrun  {got}"
                      for text, expected, got in zip(texts, reference, ours) if got != expected]
        self.assertEqual(mismatches, [], "\n".join(mismatches[:10]))

    def test_section_names_split_as_shlex_does(self):
        import shlex
        names = ['profile dev', 'profile  dev', 'profile "my dev"', "profile 'a b'", 'profile a\\ b',
                 'profile "a\\"b"', 'profile "unclosed', 'profile a"b c"d', 'profiles x', 'profile',
                 'profile a b', 'profile "a\\$b"', 'profile \\', "profile 'it''s'", 'profile ""']
        ours = run_script(SPLIT_MOONRUN, names)
        for name, got in zip(names, ours):
            try:
                expected = shlex.split(name)
            except ValueError:
                expected = "error"
            self.assertEqual(got, expected, name)


def script(path, text):
    write(path, "#!/bin/sh\n" + text, stat.S_IRWXU)
    return path


def iso(seconds_from_now):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Processes(unittest.TestCase):
    """credential_process set-ups, against botocore, and the errors' wording."""

    def run_both(self, config_text, profile="dev", **extra):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            env.update(extra)
            write(env["AWS_CONFIG_FILE"], config_text.replace("HOME", home))
            for name, body in self.scripts.items():
                script(os.path.join(home, name), body)
            return botocore_resolve(env, profile), moonrun_resolve(env, profile)

    def setUp(self):
        answer = {"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": SECRET,
                  "SessionToken": TOKEN, "Expiration": iso(3600)}
        self.scripts = {
            "good": f"echo '{json.dumps(answer)}'\n",
            "expired": "echo '" + json.dumps(dict(answer, Expiration=iso(-60))) + "'\n",
            "failing": f"echo 'not JSON {SECRET}'\necho 'token rejected: try aws sso login' >&2\nexit 3\n",
            "version2": "echo '" + json.dumps(dict(answer, Version=2)) + "'\n",
            "garbage": f"echo '{SECRET} and more'\n",
            "no-secret": "echo '" + json.dumps({"Version": 1, "AccessKeyId": "AKIDPROC"}) + "'\n",
            "chatty": "i=0; while [ $i -lt 3000 ]; do echo 'line of noise' >&2; i=$((i+1)); done\n"
                      "echo 'the real reason is last' >&2\nexit 1\n",
        }

    def test_good_process_matches_botocore(self):
        ref, ours = self.run_both("[profile dev]\ncredential_process = HOME/good\n")
        self.assertEqual((ref["key"], ref["token"]), ("AKIDPROC", True))
        self.assertEqual(comparable(ref), comparable(ours))

    def test_process_in_the_credentials_file_and_keys_beat_it(self):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            script(os.path.join(home, "good"), self.scripts["good"])
            write(env["AWS_SHARED_CREDENTIALS_FILE"], f"[dev]\ncredential_process = {home}/good\n"
                  f"[both]\ncredential_process = {home}/good\naws_access_key_id = AKIDSTATIC\n"
                  f"aws_secret_access_key = {SECRET}\n")
            for profile in ("dev", "both"):
                self.assertEqual(comparable(botocore_resolve(env, profile)),
                                 comparable(moonrun_resolve(env, profile)))

    def test_failures_are_refused_by_both_and_named(self):
        for name, wanted in (("expired", "ExpiredCredentials"), ("failing", "failed (exit status 3)"),
                             ("version2", "printed Version 2"), ("garbage", "did not print a JSON object"),
                             ("no-secret", "printed no SecretAccessKey")):
            ref, ours = self.run_both(f"[profile dev]\ncredential_process = HOME/{name}\n")
            self.assertIn("error", ref, name)
            self.assertIn("error", ours, name)
            self.assertIn(wanted, ours["message"], name)
            self.assertIn("credential_process of profile 'dev'", ours["message"], name)
        _, ours = self.run_both("[profile dev]\ncredential_process = HOME/failing\n")
        self.assertIn("token rejected: try aws sso login", ours["message"])
        self.assertIn("/failing)", ours["message"])  # the command

    def test_stderr_is_bounded(self):
        _, ours = self.run_both("[profile dev]\ncredential_process = HOME/chatty\n")
        self.assertIn("the real reason is last", ours["message"])
        self.assertLess(len(ours["message"]), 1600)


class ContainerEndpoint(unittest.TestCase):
    """The container credentials endpoint as a local server: both resolve the same key, both
    refuse expired credentials, and neither the answer's secret nor the token is printed."""

    @classmethod
    def setUpClass(cls):
        cls.server = FaultServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def resolve_both(self, answer, profile=None, config_text=None, **extra):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=self.server.url + "/creds",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN="auth-token", **extra)
            if config_text:
                write(env["AWS_CONFIG_FILE"], config_text)
            self.server.expect(*[respond(200, answer)] * 4)
            ref = botocore_resolve(env, profile)
            self.server.expect(*[respond(200, answer)] * 4)
            return ref, moonrun_resolve(env, profile)

    def test_container_credentials_match(self):
        answer = {"AccessKeyId": "AKIDCONTAINER", "SecretAccessKey": SECRET, "Token": TOKEN,
                  "Expiration": iso(3600)}
        ref, ours = self.resolve_both(answer)
        self.assertEqual(ref["key"], "AKIDCONTAINER")
        self.assertEqual(comparable(ref), comparable(ours))
        # credential_source = EcsContainer for a role is covered with STS below; here a profile
        # with nothing in it still falls through to the container, in both
        ref, ours = self.resolve_both(answer, "dev", "[profile dev]\nregion = eu-west-1\n")
        self.assertEqual(comparable(ref), comparable(ours))

    def test_expired_container_credentials_are_refused(self):
        answer = {"AccessKeyId": "AKIDCONTAINER", "SecretAccessKey": SECRET, "Token": TOKEN,
                  "Expiration": iso(-120)}
        ref, ours = self.resolve_both(answer)
        self.assertEqual(ours.get("error"), "ExpiredCredentials", ours)
        self.assertIn("expired at", ours["message"])
        self.assertIn("error", ref)

    def test_malformed_answers_do_not_show_the_secret(self):
        for answer in ({"AccessKeyId": "", "SecretAccessKey": SECRET}, {"SecretAccessKey": SECRET, "Token": TOKEN},
                       {"AccessKeyId": "A", "SecretAccessKey": SECRET, "Token": TOKEN, "Expiration": SECRET},
                       {"AccessKeyId": "A", "SecretAccessKey": SECRET, "Token": TOKEN + "\nX-Injected: 1"}):
            _, ours = self.resolve_both(answer)
            self.assertIn("error", ours, answer)

    def test_line_break_in_the_authorization_token(self):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            env.update(AWS_CONTAINER_CREDENTIALS_FULL_URI=self.server.url + "/creds",
                       AWS_CONTAINER_AUTHORIZATION_TOKEN="abc\r\nX-Evil: 1")
            self.server.expect()
            ours = moonrun_resolve(env, None)
            self.assertEqual(ours["error"], "InvalidConfiguration")
            self.assertIn("AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break", ours["message"])
            self.assertEqual(self.server.requests, [])


class AssumeRole(unittest.TestCase):
    """role_arn profiles and web identity against moto's STS: the identity the assumed
    credentials belong to must be the one botocore's do."""

    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def identity(self, key_id):
        import boto3
        sts = boto3.client("sts", endpoint_url=self.moto.url, region_name="us-east-1",
                           aws_access_key_id=key_id, aws_secret_access_key="unused")
        return sts.get_caller_identity()["Arn"]

    def role_of(self, out):
        self.assertIn("key", out, out)
        self.assertTrue(out["key"].startswith("ASIA"), out)
        self.assertTrue(out["token"])
        arn = self.identity(out["key"])
        return arn.rsplit("/", 1)[0]  # the session name differs: botocore's own, moonrun's own

    def env(self, home, **extra):
        env = base_env(home)
        env.update(AWS_ENDPOINT_URL_STS=self.moto.url, AWS_DEFAULT_REGION="us-east-1")
        env.update(extra)
        return env

    CONFIG = """
[profile base]
aws_access_key_id = AKIDBASEPROFILE
aws_secret_access_key = {secret}
[profile role]
role_arn = arn:aws:iam::123456789012:role/first
source_profile = base
[profile chained]
role_arn = arn:aws:iam::123456789012:role/second
source_profile = role
[profile fromenv]
role_arn = arn:aws:iam::123456789012:role/third
credential_source = Environment
[profile self]
role_arn = arn:aws:iam::123456789012:role/fourth
source_profile = self
aws_access_key_id = AKIDSELF
aws_secret_access_key = {secret}
[profile loop1]
role_arn = arn:aws:iam::123456789012:role/x
source_profile = loop2
[profile loop2]
role_arn = arn:aws:iam::123456789012:role/y
source_profile = loop1
[profile both]
role_arn = arn:aws:iam::123456789012:role/z
source_profile = base
credential_source = Environment
[profile neither]
role_arn = arn:aws:iam::123456789012:role/z
[profile mfa]
role_arn = arn:aws:iam::123456789012:role/z
source_profile = base
mfa_serial = arn:aws:iam::123456789012:mfa/me
[profile web]
role_arn = arn:aws:iam::123456789012:role/web
web_identity_token_file = {home}/token
role_session_name = websession
"""

    def test_roles_match_botocore(self):
        with tempfile.TemporaryDirectory() as home:
            write(os.path.join(home, "token"), WEB_TOKEN + "\n")
            env = self.env(home, AWS_ACCESS_KEY_ID="AKIDENVSOURCE", AWS_SECRET_ACCESS_KEY=SECRET)
            write(env["AWS_CONFIG_FILE"], self.CONFIG.format(secret=SECRET, home=home))
            for profile, role in (("role", "first"), ("chained", "second"), ("fromenv", "third"),
                                  ("self", "fourth"), ("web", "web")):
                ref, ours = botocore_resolve(env, profile), moonrun_resolve(env, profile)
                self.assertEqual(self.role_of(ref), self.role_of(ours), profile)
                self.assertTrue(self.role_of(ours).endswith("/" + role), ours)
            for profile in ("loop1", "both", "neither"):
                ref, ours = botocore_resolve(env, profile), moonrun_resolve(env, profile)
                self.assertIn("error", ref, profile)
                self.assertEqual(ours.get("error"), "InvalidConfiguration", (profile, ours))
            ours = moonrun_resolve(env, "mfa")
            self.assertIn("needs an MFA code", ours["message"])

    def test_web_identity_from_the_environment(self):
        with tempfile.TemporaryDirectory() as home:
            write(os.path.join(home, "token"), WEB_TOKEN)
            env = self.env(home, AWS_WEB_IDENTITY_TOKEN_FILE=os.path.join(home, "token"),
                           AWS_ROLE_ARN="arn:aws:iam::123456789012:role/envweb")
            ref, ours = botocore_resolve(env, None), moonrun_resolve(env, None)
            self.assertEqual(self.role_of(ref), self.role_of(ours))
            env["AWS_WEB_IDENTITY_TOKEN_FILE"] = os.path.join(home, "missing")
            ours = moonrun_resolve(env, None)
            self.assertIn("cannot read the web identity token (AWS_WEB_IDENTITY_TOKEN_FILE)", ours["message"])
            del env["AWS_ROLE_ARN"]
            ours = moonrun_resolve(env, None)
            self.assertEqual(ours["error"], "InvalidConfiguration")
            self.assertIn("no role_arn (or AWS_ROLE_ARN)", ours["message"])

    def test_session_is_cached_and_refreshed(self):
        with tempfile.TemporaryDirectory() as home:
            env = self.env(home)
            write(env["AWS_CONFIG_FILE"], self.CONFIG.format(secret=SECRET, home=home)
                  .replace("source_profile = base\n", "source_profile = base\nduration_seconds = 900\n", 1))
            answer, _ = run_lua("""
                local credentials = require "moonrun.aws.credentials"
                local first = credentials.resolve{profile = "role"}
                local again = credentials.resolve{profile = "role"}
                -- as if the session were due
                require("moonrun.aws.credential").refresh_at = function() return 0 end
                local later = credentials.resolve{profile = "role"}
                return {first.access_key_id, again.access_key_id, later.access_key_id,
                        first.expiration - require("moonrun.time").now()}""", env)
            first, again, later, life = answer["result"]
            self.assertEqual(first, again)
            self.assertNotEqual(first, later)
            self.assertGreater(life, 800)
            self.assertLessEqual(life, 901)

    def test_sts_refusal_is_an_aws_error(self):
        sts = FaultServer().start()
        try:
            sts.expect(respond(403, "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                                    "<Message>not allowed &amp; logged</Message></Error>"
                                    "<RequestId>req-1</RequestId></ErrorResponse>"))
            with tempfile.TemporaryDirectory() as home:
                env = self.env(home, AWS_ENDPOINT_URL_STS=sts.url)
                write(env["AWS_CONFIG_FILE"], self.CONFIG.format(secret=SECRET, home=home))
                ours = moonrun_resolve(env, "role")
            self.assertEqual(ours["error"], "AccessDenied")
            self.assertIn("when calling the AssumeRole operation: not allowed & logged", ours["message"])
            request = sts.requests[0]
            self.assertIn("Credential=AKIDBASEPROFILE/", request["headers"]["authorization"])
            self.assertIn(b"Action=AssumeRole", request["body"])
            self.assertNotIn(SECRET.encode(), request["body"])
        finally:
            sts.stop()


class EndpointOptions(unittest.TestCase):
    """The client's use_fips_endpoint and use_dualstack_endpoint options, against botocore's
    Config of the same names, in every partition; an option beats the environment."""

    REGIONS = ("us-east-1", "ca-central-1", "us-gov-west-1", "cn-north-1", "us-iso-east-1",
               "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1", "eusc-de-east-1")

    def test_options_match_botocore_config(self):
        import boto3
        from botocore.config import Config
        cases, expected = [], []
        for region in self.REGIONS:
            for fips in (False, True):
                # botocore's SQS rules for dual-stack in the ISO partitions are an intended
                # difference (docs/lua-library.md), so dual-stack is compared where the partitions agree
                for dualstack in ((False, True) if "iso" not in region else (False,)):
                    client = boto3.client("sqs", region_name=region, aws_access_key_id="a",
                                          aws_secret_access_key="b",
                                          config=Config(use_fips_endpoint=fips, use_dualstack_endpoint=dualstack))
                    expected.append(client.meta.endpoint_url)
                    cases.append(f'{{"{region}", {str(fips).lower()}, {str(dualstack).lower()}}}')
        code = """
            local aws = require "moonrun.aws"
            local out = {}
            for i, case in ipairs{%s} do
              out[i] = aws.endpoint({service_id = "SQS", endpoint_prefix = "sqs"}, case[1],
                {use_fips_endpoint = case[2], use_dualstack_endpoint = case[3]})
            end
            return out""" % ", ".join(cases)
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            env.update(AWS_USE_FIPS_ENDPOINT="true", AWS_USE_DUALSTACK_ENDPOINT="true")
            answer, _ = run_lua(code, env)
        self.assertEqual(answer["result"], expected)


class SecretsEverywhere(unittest.TestCase):
    """Secrets in every place moonrun reads, valid and malformed: nothing moonrun prints (the
    run helpers check every output) and no error value holds one."""

    def test_malformed_files_never_quote_a_value(self):
        texts = [
            "[default]\naws_secret_access_key: {secret}\nbroken line {secret}\n",
            "[default]\naws_secret_access_key = {secret}\naws_secret_access_key = {secret}\n",
            "aws_secret_access_key = {secret}\n",
            "[default]\n{secret}={secret}\n{secret}={secret}\n",
            "[default]\ns3 =\n  {secret}\n",
            "\ufeff[default]\naws_secret_access_key = {secret}\n",
            "[default]\naws_session_token = {token}\n[default]\n",
        ]
        for text in texts:
            for variable in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
                with tempfile.TemporaryDirectory() as home:
                    env = base_env(home)
                    write(env[variable], text.format(secret=SECRET, token=TOKEN))
                    ours = moonrun_resolve(env, None)
                    self.assertEqual(ours.get("error"), "InvalidConfiguration", (text, ours))
                    self.assertEqual(ours.get("config_error"), "InvalidConfiguration", (text, ours))
                    self.assertRegex(ours["message"], r":\d+: ")
                    self.assertNotIn(SECRET, json.dumps(ours))
                    self.assertNotIn(TOKEN, json.dumps(ours))

    def test_one_code_whatever_lookup_reads_the_file_first(self):
        code = """
            local ok, err = pcall(function()
              return require("moonrun.sqs").client{max_attempts = 1}:list_queues{}
            end)
            return {code = not ok and err.code or "ok", message = tostring(err)}"""
        region = {"AWS_REGION": "us-east-1"}
        endpoint = dict(region, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="false",
                        AWS_ENDPOINT_URL_SQS="http://127.0.0.1:9")
        retries = dict(endpoint, AWS_RETRY_MODE="standard", AWS_MAX_ATTEMPTS="1")
        for first, extra in (("region", {}), ("endpoint", region), ("retries", endpoint),
                             ("credentials", retries)):
            with tempfile.TemporaryDirectory() as home:
                env = base_env(home)
                env.update(extra)
                write(env["AWS_CONFIG_FILE"], f"[default]\nregion = eu-west-1\n{SECRET}\n")
                answer, _ = run_lua(code, env)
                self.assertEqual(answer["result"]["code"], "InvalidConfiguration", (first, answer))
                self.assertIn("config:3: expected 'name = value'", answer["result"]["message"])

    def test_the_colon_line_of_the_issue_is_read(self):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            write(env["AWS_SHARED_CREDENTIALS_FILE"],
                  f"[default]\naws_access_key_id: AKIDCOLON\naws_secret_access_key: {SECRET}\n")
            self.assertEqual(moonrun_resolve(env, None)["key"], "AKIDCOLON")

    def test_line_break_in_the_session_token(self):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            env.update(AWS_ACCESS_KEY_ID="AKIDENV", AWS_SECRET_ACCESS_KEY=SECRET,
                       AWS_SESSION_TOKEN=TOKEN + "\nX-Injected: yes")
            ours = moonrun_resolve(env, None)
            self.assertEqual(ours["error"], "InvalidConfiguration")
            self.assertIn("AWS_SESSION_TOKEN contains a line break", ours["message"])

    def test_sso_is_refused_with_advice(self):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            write(env["AWS_CONFIG_FILE"], CONFIG_FILES["sso"])
            ours = moonrun_resolve(env, "dev")
            self.assertIn("uses SSO", ours["message"])
            self.assertIn("aws configure export-credentials --profile dev", ours["message"])

    def test_printing_everything(self):
        with tempfile.TemporaryDirectory() as home:
            env = base_env(home)
            write(env["AWS_SHARED_CREDENTIALS_FILE"],
                  f"[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = {SECRET}\n"
                  f"aws_session_token = {TOKEN}\n")
            p = run_lua_process("""
                local aws = require "moonrun.aws"
                local c = aws.credentials()
                print(c, require("moonrun.json").encode(c), require("moonrun.pretty").format(c))
                error(c)""", env)
            self.assertIn("AKIDFILE", p.stdout.decode() + p.stderr.decode())


if __name__ == "__main__":
    unittest.main()
