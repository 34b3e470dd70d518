package cordumkeys

import (
	"net/netip"
	"strconv"
	"testing"
)

// The Cordum services build their keys by concatenation: a prefix, then the value as it is
// ("job:state:" + jobID). These tests hold the generated package to that layout key for key over
// the reference inventory, and show where concatenation is not injective.

const (
	jobID   = "0f8fad5b-d9cb-469f-a165-70867728950e"
	runID   = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	userID  = "a3bb189e-8bf9-3888-9912-ace4e6543002"
	unixSec = int64(1700000000)
)

type inventoryKey struct {
	pattern string
	cordum  string
	ours    func() (string, error)
}

func ordinaryKeys() []inventoryKey {
	ip := netip.MustParseAddr("10.0.0.1")
	step := JobIDLayout1(runID, "step-1", 2)
	return []inventoryKey{
		{"job:state:<jobID>", "job:state:" + jobID, func() (string, error) { return JobState.Format(JobIDOf(jobID)) }},
		{"job:state:<jobID> (a workflow step's job)", "job:state:" + runID + ":step-1@2", func() (string, error) { return JobState.Format(step) }},
		{"job:meta:<jobID>", "job:meta:" + jobID, func() (string, error) { return JobMeta.Format(JobIDOf(jobID)) }},
		{"job:req:<jobID>", "job:req:" + jobID, func() (string, error) { return JobReq.Format(JobIDOf(jobID)) }},
		{"job:result_ptr:<jobID>", "job:result_ptr:" + jobID, func() (string, error) { return JobResultPtr.Format(JobIDOf(jobID)) }},
		{"job:events:<jobID>", "job:events:" + jobID, func() (string, error) { return JobEvents.Format(JobIDOf(jobID)) }},
		{"job:decisions:<jobID>", "job:decisions:" + jobID, func() (string, error) { return JobDecisions.Format(JobIDOf(jobID)) }},
		{"job:<jobID>:output_decision", "job:" + jobID + ":output_decision", func() (string, error) { return JobOutputDecision.Format(JobIDOf(jobID)) }},
		{"job:idempotency:<tenant>:<key>", "job:idempotency:acme:req-7", func() (string, error) { return JobIdempotency.Format("acme", "req-7") }},
		{"job:recent", "job:recent", func() (string, error) { return JobRecent.Format() }},
		{"job:deadline", "job:deadline", func() (string, error) { return JobDeadline.Format() }},
		{"job:index:<state>", "job:index:running", func() (string, error) { return JobIndex.Format(StateRunning) }},
		{"job:tenant:active:<tenant>", "job:tenant:active:acme", func() (string, error) { return JobTenantActive.Format("acme") }},
		{"trace:<traceID>", "trace:trace-9", func() (string, error) { return Trace.Format("trace-9") }},
		{"wf:def:<workflowID>", "wf:def:wf-42", func() (string, error) { return WfDef.Format("wf-42") }},
		{"wf:index:org:<orgID>", "wf:index:org:acme", func() (string, error) { return WfIndexOrg.Format("acme") }},
		{"wf:index:all", "wf:index:all", func() (string, error) { return WfIndexAll.Format() }},
		{"wf:run:<runID>", "wf:run:" + runID, func() (string, error) { return WfRun.Format(runID) }},
		{"wf:runs:<workflowID>", "wf:runs:wf-42", func() (string, error) { return WfRuns.Format("wf-42") }},
		{"wf:runs:all", "wf:runs:all", func() (string, error) { return WfRunsAll.Format() }},
		{"wf:runs:status:<status>", "wf:runs:status:timed_out", func() (string, error) { return WfRunsStatus.Format(StatusTimedOut) }},
		{"wf:runs:active:<orgID>", "wf:runs:active:acme", func() (string, error) { return WfRunsActive.Format("acme") }},
		{"wf:run:timeline:<runID>", "wf:run:timeline:" + runID, func() (string, error) { return WfRunTimeline.Format(runID) }},
		{"wf:run:idempotency:<key>", "wf:run:idempotency:req-7", func() (string, error) { return WfRunIdempotency.Format("req-7") }},
		{"cfg:system:<id>", "cfg:system:default", func() (string, error) { return CfgSystem.Format("default") }},
		{"cfg:org:<orgID>", "cfg:org:acme", func() (string, error) { return CfgOrg.Format("acme") }},
		{"cfg:team:<teamID>", "cfg:team:t1", func() (string, error) { return CfgTeam.Format("t1") }},
		{"cfg:workflow:<workflowID>", "cfg:workflow:wf-42", func() (string, error) { return CfgWorkflow.Format("wf-42") }},
		{"cfg:step:<stepID>", "cfg:step:step-1", func() (string, error) { return CfgStep.Format("step-1") }},
		{"auth:<keyID>", "auth:ck_1234abcd", func() (string, error) { return Auth.Format("ck_1234abcd") }},
		{"auth:prefix:<prefix>", "auth:prefix:ck_1234", func() (string, error) { return AuthPrefix.Format("ck_1234") }},
		{"auth:tenant:<tenant>", "auth:tenant:acme", func() (string, error) { return AuthTenant.Format("acme") }},
		{"login:failed:<user>:<ip>", "login:failed:alice:10.0.0.1", func() (string, error) { return LoginFailed.Format("alice", ip) }},
		{"login:failed:global:<user>", "login:failed:global:alice", func() (string, error) { return LoginFailedGlobal.Format("alice") }},
		{"user:<tenant>:<username>", "user:acme:alice", func() (string, error) { return User.Format("acme", "alice") }},
		{"user:id:<userID>", "user:id:" + userID, func() (string, error) { return UserID.Format(userID) }},
		{"user:email:<tenant>:<email>", "user:email:acme:alice@example.com", func() (string, error) { return UserEmail.Format("acme", "alice@example.com") }},
		{"user:tenant:<tenant>", "user:tenant:acme", func() (string, error) { return UserTenant.Format("acme") }},
		{"session:<token>", "session:tok_abc", func() (string, error) { return Session.Format("tok_abc") }},
		{"ctx:<jobID>", "ctx:" + jobID, func() (string, error) { return Ctx.Format(JobIDOf(jobID)) }},
		{"res:<jobID>", "res:" + jobID, func() (string, error) { return Res.Format(JobIDOf(jobID)) }},
		{"dlq:entry:<jobID>", "dlq:entry:" + jobID, func() (string, error) { return DLQEntry.Format(JobIDOf(jobID)) }},
		{"dlq:index", "dlq:index", func() (string, error) { return DLQIndex.Format() }},
		{"cordum:scheduler:job:<jobID>", "cordum:scheduler:job:" + jobID, func() (string, error) { return CordumSchedulerJob.Format(JobIDOf(jobID)) }},
		{"cordum:reconciler:default", "cordum:reconciler:default", func() (string, error) { return CordumReconcilerDefault.Format() }},
		{"cordum:wf:run:lock:<runID>", "cordum:wf:run:lock:" + runID, func() (string, error) { return CordumWfRunLock.Format(runID) }},
		{"cordum:workflow-engine:reconciler:default", "cordum:workflow-engine:reconciler:default", func() (string, error) { return CordumWorkflowEngineReconcilerDefault.Format() }},
		{"cordum:scheduler:snapshot:writer", "cordum:scheduler:snapshot:writer", func() (string, error) { return CordumSchedulerSnapshotWriter.Format() }},
		{"cordum:dlq:cleanup", "cordum:dlq:cleanup", func() (string, error) { return CordumDLQCleanup.Format() }},
		{"cordum:wf:delay:timers", "cordum:wf:delay:timers", func() (string, error) { return CordumWfDelayTimers.Format() }},
		{"cordum:rl:<tenant>:<unixSec>", "cordum:rl:acme:" + strconv.FormatInt(unixSec, 10), func() (string, error) { return CordumRl.Format("acme", unixSec) }},
		{"cordum:cb:safety:failures", "cordum:cb:safety:failures", func() (string, error) { return CordumCbSafetyFailures.Format() }},
		{"cordum:cb:safety:output:failures", "cordum:cb:safety:output:failures", func() (string, error) { return CordumCbSafetyOutputFailures.Format() }},
		{"sys:workers:snapshot", "sys:workers:snapshot", func() (string, error) { return SysWorkersSnapshot.Format() }},
	}
}

func TestEveryInventoryKeyIsFormattedAsCordumFormatsIt(t *testing.T) {
	for _, key := range ordinaryKeys() {
		ours, err := key.ours()
		if err != nil || ours != key.cordum {
			t.Errorf("%s: got %q, %v; Cordum writes %q", key.pattern, ours, err, key.cordum)
		}
		if _, err := Parse(ours); err != nil {
			t.Errorf("%s: %q does not parse back: %v", key.pattern, ours, err)
		}
	}
}

// A collision: two different value sets that concatenation joins into one key, which the
// package keeps apart.
type collision struct {
	pattern string
	cordum  [2]string
	ours    [2]func() (string, error)
}

func collisions() []collision {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := netip.MustParseAddr("db8::1")
	return []collision{
		{"job:idempotency:<tenant>:<key>", [2]string{"job:idempotency:" + "acme:x" + ":" + "k", "job:idempotency:" + "acme" + ":" + "x:k"},
			[2]func() (string, error){func() (string, error) { return JobIdempotency.Format("acme:x", "k") }, func() (string, error) { return JobIdempotency.Format("acme", "x:k") }}},
		{"job:idempotency:<tenant>:<key> against job:idempotency:<key>", [2]string{"job:idempotency:" + "acme" + ":" + "k", "job:idempotency:" + "acme:k"},
			[2]func() (string, error){func() (string, error) { return JobIdempotency.Format("acme", "k") }, func() (string, error) { return JobIdempotencyUntenanted.Format("acme:k") }}},
		{"login:failed:<user>:<ip>", [2]string{"login:failed:" + "alice" + ":" + v6.String(), "login:failed:" + "alice:2001" + ":" + v6b.String()},
			[2]func() (string, error){func() (string, error) { return LoginFailed.Format("alice", v6) }, func() (string, error) { return LoginFailed.Format("alice:2001", v6b) }}},
		{"user:<tenant>:<username>", [2]string{"user:" + "a:b" + ":" + "c", "user:" + "a" + ":" + "b:c"},
			[2]func() (string, error){func() (string, error) { return User.Format("a:b", "c") }, func() (string, error) { return User.Format("a", "b:c") }}},
		{"user:email:<tenant>:<email>", [2]string{"user:email:" + "a:b" + ":" + "c@d", "user:email:" + "a" + ":" + "b:c@d"},
			[2]func() (string, error){func() (string, error) { return UserEmail.Format("a:b", "c@d") }, func() (string, error) { return UserEmail.Format("a", "b:c@d") }}},
	}
}

func TestWhereConcatenationCollidesThePackageEscapes(t *testing.T) {
	for _, c := range collisions() {
		if c.cordum[0] != c.cordum[1] {
			t.Errorf("%s: not a collision: %q and %q", c.pattern, c.cordum[0], c.cordum[1])
		}
		var ours [2]string
		for i, format := range c.ours {
			key, err := format()
			if err != nil {
				t.Fatalf("%s: %v", c.pattern, err)
			}
			if _, err := Parse(key); err != nil {
				t.Errorf("%s: %q does not parse back: %v", c.pattern, key, err)
			}
			ours[i] = key
		}
		if ours[0] == ours[1] {
			t.Errorf("%s: both value sets give %q", c.pattern, ours[0])
		}
		if ours[0] == c.cordum[0] && ours[1] == c.cordum[1] {
			t.Errorf("%s: the package writes %q as concatenation does", c.pattern, ours[0])
		}
	}
}

func TestABraceInAValueCannotMoveAKeyToAnotherSlot(t *testing.T) {
	cordum := "job:tenant:active:" + "x{acme}"
	if Slot(cordum) != Slot("acme") {
		t.Fatalf("Redis hashes only the braces' content of %q", cordum)
	}
	ours, err := JobTenantActive.Format("x{acme}")
	if err != nil || ours != "job:tenant:active:x%7Bacme%7D" || Slot(ours) == Slot("acme") {
		t.Fatalf("got %q (slot %d), %v", ours, Slot(ours), err)
	}
}

func TestAnEscapedKeyReadsBackItsValues(t *testing.T) {
	key, err := User.Format("a:b", "c%d{e}")
	if err != nil || key != "user:a%3Ab:c%25d%7Be%7D" {
		t.Fatalf("got %q, %v", key, err)
	}
	m, err := Parse(key)
	if err != nil || m.Key != User.Key || m.Values["tenant"].Text != "a:b" || m.Values["username"].Text != "c%d{e}" {
		t.Fatalf("got %+v, %v", m, err)
	}
	if Slot(key) != Slot("user:a%3Ab:c%25d%7Be%7D") || m.Slot != Slot(key) {
		t.Fatalf("slot %d", m.Slot)
	}
}

func TestRefusedValuesAreErrorsNamingTheKeyAndParameter(t *testing.T) {
	_, err := JobState.Format(JobIDOf("0F8FAD5B-D9CB-469F-A165-70867728950E"))
	if err == nil || err.Error() != `invalid value for jobID of key job_state: "0F8FAD5B-D9CB-469F-A165-70867728950E" is not a uuid (lowercase, hyphenated)` {
		t.Fatalf("got %v", err)
	}
	if _, err := User.Format("", "alice"); err == nil {
		t.Fatal("an empty tenant was formatted")
	}
	if _, err := JobIndex.Format(State("running")); err == nil {
		t.Fatal("a key form was taken for a variant's name")
	}
}

func TestTTLsResolveAsTheRustStoreDoes(t *testing.T) {
	env := map[string]string{}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	millis, expires, err := JobState.TTL.Resolve(lookup)
	if err != nil || !expires || millis != 7*24*3600*1000 || JobState.TTL.Env() != "JOB_META_TTL_SECONDS" {
		t.Fatalf("default: %d %v %v", millis, expires, err)
	}
	env["JOB_META_TTL_SECONDS"] = " 60 "
	if millis, _, err := JobState.TTL.Resolve(lookup); err != nil || millis != 60_000 {
		t.Fatalf("60 s: %d %v", millis, err)
	}
	env["JOB_META_TTL_SECONDS"] = "0"
	if _, _, err := JobState.TTL.Resolve(lookup); err == nil {
		t.Fatal("a TTL of zero was accepted")
	}
	if _, expires, _ := WfDef.TTL.Resolve(lookup); expires {
		t.Fatal("wf:def expires")
	}
	env["RECONCILER_POLL_INTERVAL_SECONDS"] = "7"
	if millis, _, _ := CordumReconcilerDefault.TTL.Resolve(lookup); millis != 14_000 {
		t.Fatalf("twice the poll interval: %d", millis)
	}
}

func TestMetadataComesFromTheSchema(t *testing.T) {
	if JobMeta.RedisType != "hash" || len(JobMeta.Fields) != 4 || JobMetaFieldLabels != "labels" {
		t.Fatalf("job_meta: %+v", JobMeta.Key)
	}
	if JobState.Codec != "json(JobState)" || JobState.Pattern != "job:state:<jobID>" || JobState.SlotGroup != "" {
		t.Fatalf("job_state: %+v", JobState.Key)
	}
	if k, ok := KeyNamed("wf_run_timeline"); !ok || k.RedisType != "list" {
		t.Fatalf("wf_run_timeline: %+v", k)
	}
}
