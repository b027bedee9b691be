"""End-to-end tests of `moonrun dev`'s Schedule and ScheduleV2 events: a schedule fired on
demand from the HTTP front (EventBridge's event, or the event's Input), the listing with each
next firing, a disabled schedule that never fires by itself, a cron schedule firing at its
minute, and the errors of the endpoint.

It shares tests/dev_support.py's harness. Run from the repository root:
python3 -m unittest -v tests/test_dev_schedules.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import datetime
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dev_support as base  # noqa: E402  (the dev harness: tests/dev_support.py)

# Appends each event it gets, with the time it ran, to RECORD_FILE.
HANDLER_LUA = """\
local json = require "moonrun.json"
local M = {}
function M.handler(event, context)
  local f = assert(io.open(os.getenv("RECORD_FILE"), "a"))
  f:write(json.encode{event = event, at = require("moonrun.time").now_ms()}, "\\n")
  f:close()
  return {}
end
return M
"""

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Runtime: provided.al2023
      Environment:
        Variables:
          RECORD_FILE: RECORD_PATH
      Events:
        EveryMinute:
          Type: Schedule
          Properties:
            Schedule: cron(* * * * ? *)
        Hourly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 hour)
            Input: '{"job": "report"}'
        Paused:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
            Enabled: false
            Name: paused-rule
"""


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class TestSchedules(base.DevTestCase):
    def setUp(self):
        super().setUp()
        self.write("fn/app.lua", HANDLER_LUA)
        self.record = self.path("record.jsonl")
        self.dev = self.start_dev(self.template(TEMPLATE.replace("RECORD_PATH", self.record)))

    def test_the_banner_shows_each_schedule_its_next_firing_and_how_to_fire_it(self):
        dev = self.dev
        dev.wait_for(r"schedule cron\(\* \* \* \* \? \*\)\s+-> Jobs \(Jobs/EveryMinute; next \d{4}-\d\d-\d\d \d\d:\d\d:00 UTC\)")
        dev.wait_for(r"schedule rate\(1 hour\)\s+-> Jobs \(Jobs/Hourly; next ")
        dev.wait_for(r"schedule rate\(1 minute\)\s+-> Jobs \(Jobs/Paused; disabled\)")
        hint = dev.wait_for(r"fire a schedule now: curl -X POST (\S+)")[0].group(1)
        self.assertEqual(hint, dev.front + "/_moonrun/schedules/Jobs/EveryMinute")
        status, _, body = base.http_request(dev.front + "/_moonrun/schedules")
        self.assertEqual(status, 200)
        listing = {s["name"]: s for s in json.loads(body)["schedules"]}
        self.assertEqual(set(listing), {"Jobs/EveryMinute", "Jobs/Hourly", "Jobs/Paused"})
        self.assertRegex(listing["Jobs/EveryMinute"]["next"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:00Z$")
        self.assertIsNone(listing["Jobs/Paused"]["next"])
        self.assertFalse(listing["Jobs/Paused"]["enabled"])
        self.assertEqual(listing["Jobs/Hourly"]["fire"], dev.front + "/_moonrun/schedules/Jobs/Hourly")
        self.stop_dev(dev)

    def test_fired_on_demand_with_eventbridges_event_or_the_input(self):
        dev = self.dev
        status, _, body = base.http_request(dev.front + "/_moonrun/schedules/Jobs/Paused", "POST", b"")
        self.assertEqual((status, json.loads(body)), (202, {"fired": "Jobs/Paused"}))
        status, _, _ = base.http_request(dev.front + "/_moonrun/schedules/Jobs/Hourly", "POST", b"")
        self.assertEqual(status, 202)
        base.wait_until(lambda: len(read_lines(self.record)) >= 2, 20, "the two schedules' invocations")
        events = [line["event"] for line in read_lines(self.record)]
        self.assertIn({"job": "report"}, events, "the Input is the event")
        scheduled = next(e for e in events if e != {"job": "report"})
        self.assertEqual(set(scheduled), {"version", "id", "detail-type", "source", "account", "time", "region",
                                          "resources", "detail"})
        self.assertEqual(scheduled["detail-type"], "Scheduled Event")
        self.assertEqual(scheduled["source"], "aws.events")
        self.assertEqual(scheduled["detail"], {})
        self.assertEqual(scheduled["version"], "0")
        self.assertEqual(scheduled["account"], base.ACCOUNT)
        self.assertEqual(scheduled["region"], base.REGION)
        self.assertEqual(scheduled["resources"], [f"arn:aws:events:{base.REGION}:{base.ACCOUNT}:rule/paused-rule"])
        fired = datetime.datetime.strptime(scheduled["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        self.assertLess(abs(fired.timestamp() - time.time()), 60)
        dev.wait_for(r"Jobs\s+schedule Paused \(async\)\s+\d+\.\d ms  ok")
        dev.wait_for(r"schedule Jobs/Hourly fired on demand")
        self.stop_dev(dev)

    def test_the_endpoints_errors(self):
        dev = self.dev
        status, _, body = base.http_request(dev.front + "/_moonrun/schedules/Jobs/Nope", "POST", b"")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["message"],
                         "no schedule Jobs/Nope (the schedules: Jobs/EveryMinute, Jobs/Hourly, Jobs/Paused)")
        status, _, _ = base.http_request(dev.front + "/_moonrun/schedules/Jobs/Hourly")
        self.assertEqual(status, 405)
        status, _, _ = base.http_request(dev.front + "/_moonrun/schedules", "POST", b"")
        self.assertEqual(status, 405)
        self.assertEqual(read_lines(self.record), [])
        self.stop_dev(dev)

    def test_a_cron_schedule_fires_at_its_minute_and_a_disabled_one_does_not(self):
        dev = self.dev
        base.wait_until(lambda: read_lines(self.record), 75, "the every-minute schedule to fire")
        line = read_lines(self.record)[0]
        ran = line["at"] / 1000
        self.assertLess(ran % 60, 5, "at the start of a minute")
        self.assertEqual(line["event"]["resources"], [f"arn:aws:events:{base.REGION}:{base.ACCOUNT}:rule/JobsEveryMinute"])
        dev.wait_for(r"schedule Jobs/EveryMinute fired; next \d{4}-\d\d-\d\d \d\d:\d\d:00 UTC")
        self.assertFalse(any(re.search("rule/paused-rule", json.dumps(x)) for x in read_lines(self.record)))
        self.stop_dev(dev)


if __name__ == "__main__":
    unittest.main()
