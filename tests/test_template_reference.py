"""moonrun dev's template model held against AWS's own SAM translator (aws-sam-translator,
installed for the tests): every AWS::Serverless::Function property SAM knows is one moonrun dev
knows (read, deploy-only, not emulated or refused with a reason), and no other, so a typo is
an error (as SAM makes it) and a real property never is. The same for AWS::Lambda::Function,
held against the CloudFormation resource schema cfn-lint carries.

Run from the repository root: python3 -m unittest -v tests/test_template_reference.py
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import MOONRUN  # noqa: E402

from samtranslator.model.sam_resources import SamFunction  # noqa: E402


def moonrun(*args, cwd=None):
    return subprocess.run([os.path.abspath(MOONRUN), *args], capture_output=True, text=True, timeout=60, cwd=cwd)


class TestFunctionProperties(unittest.TestCase):
    def test_the_same_properties_as_sam(self):
        p = moonrun("run", "-e", "print(require('moonrun.json').encode("
                    "require('moonrun.dev.template.resources').function_properties()))")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), sorted(SamFunction.property_types))

    def test_the_same_lambda_function_properties_as_cloudformation(self):
        from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::Lambda::Function").schema
        # read-only properties are in the schema too: moonrun dev knows them, to say they cannot be set
        p = moonrun("run", "-e", "print(require('moonrun.json').encode("
                    "require('moonrun.dev.template.cfn').function_properties()))")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), sorted(schema["properties"]))

    def test_a_typo_stops_dev_with_the_name_it_meant(self):
        root = tempfile.mkdtemp()
        os.makedirs(os.path.join(root, "fn"))
        with open(os.path.join(root, "fn", "app.lua"), "w") as f:
            f.write("return {handler = function() return os.getenv('STAGE') end}\n")
        with open(os.path.join(root, "template.yaml"), "w") as f:
            f.write(textwrap.dedent("""\
                Transform: AWS::Serverless-2016-10-31
                Resources:
                  Fn:
                    Type: AWS::Serverless::Function
                    Properties:
                      CodeUri: fn/
                      Handler: app.handler
                      Runtime: provided.al2023
                      Enviroment:
                        Variables:
                          STAGE: dev
                """))
        p = moonrun("dev", "--port", "0", "--sqs-port", "0", cwd=root)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("Resources.Fn.Properties.Enviroment: not an AWS::Serverless::Function property "
                      "(did you mean Environment?)", p.stderr)
        subprocess.run(["rm", "-rf", root], check=False)


if __name__ == "__main__":
    unittest.main()
