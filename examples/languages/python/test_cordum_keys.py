"""The generated Python package of the Cordum schema, used as a script would:
`python3 -m unittest discover examples/languages/python`."""

import unittest

import cordum_keys as cordum

JOB_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
RUN_ID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


class CordumKeys(unittest.TestCase):
    def test_keys_are_formatted_as_cordum_concatenates_them(self) -> None:
        self.assertEqual(cordum.JOB_STATE.format(JOB_ID), "job:state:" + JOB_ID)
        step = cordum.JobIdLayout1(run_id=RUN_ID, step_id="step-1", attempt=2)
        self.assertEqual(cordum.JOB_STATE.format(step), f"job:state:{RUN_ID}:step-1@2")
        self.assertEqual(cordum.JOB_INDEX.format("RUNNING"), "job:index:running")
        self.assertEqual(cordum.CORDUM_RL.format("acme", 1700000000), "cordum:rl:acme:1700000000")

    def test_values_concatenation_would_confuse_are_escaped_and_read_back(self) -> None:
        key = cordum.USER.format("a:b", "c")
        self.assertNotEqual(key, cordum.USER.format("a", "b:c"))
        self.assertEqual(key, "user:a%3Ab:c")
        match = cordum.parse(key)
        self.assertIs(match.key, cordum.USER)
        self.assertEqual(dict(match.values), {"tenant": "a:b", "username": "c"})
        self.assertEqual(match.slot, cordum.slot(key))
        step = cordum.parse(f"job:state:{RUN_ID}:step-1@2")
        self.assertEqual(step.values["jobID"], cordum.Layout(1, {"runID": RUN_ID, "stepID": "step-1", "attempt": "2"}))

    def test_refused_values_raise_format_error_naming_the_key_and_parameter(self) -> None:
        with self.assertRaises(cordum.FormatError) as refused:
            cordum.JOB_STATE.format(JOB_ID.upper())
        self.assertEqual((refused.exception.key, refused.exception.param), ("job_state", "jobID"))
        with self.assertRaises(cordum.FormatError):
            cordum.USER.format("", "alice")
        with self.assertRaises(cordum.FormatError):
            cordum.CORDUM_RL.format("acme", True)
        with self.assertRaises(cordum.FormatError):
            cordum.USER.format("\ud800", "alice")
        with self.assertRaises(cordum.ParseError):
            cordum.parse("nope:1")

    def test_ttls_resolve_as_the_rust_store_resolves_them(self) -> None:
        env: "dict[str, str]" = {}
        self.assertEqual(cordum.JOB_STATE.ttl.resolve(env.get), 604_800_000)
        env["JOB_META_TTL_SECONDS"] = " 60 "
        self.assertEqual(cordum.JOB_STATE.ttl.resolve(env.get), 60_000)
        env["JOB_META_TTL_SECONDS"] = "0"
        with self.assertRaises(cordum.TtlError):
            cordum.JOB_STATE.ttl.resolve(env.get)
        self.assertIsNone(cordum.WF_DEF.ttl.resolve(env.get))

    def test_metadata_comes_from_the_schema(self) -> None:
        self.assertEqual(cordum.JOB_META.redis_type, "hash")
        self.assertEqual(cordum.JOB_META.fields, ("tenant", "principal", "topic", "labels"))
        key = cordum.key_named("wf_run_timeline")
        self.assertIsNotNone(key)
        self.assertEqual(len(cordum.KEYS), 68)


if __name__ == "__main__":
    unittest.main()
