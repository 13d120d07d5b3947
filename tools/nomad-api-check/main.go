// Command nomad-api-check drives a Nomad HTTP API with HashiCorp's official Go client
// (github.com/hashicorp/nomad/api) through the calls Ardea's Nomad pool relies on: register a
// service job, watch its allocations with blocking queries, read a task's stdout through the
// allocation file system API (ls, stat, readat), scale a group up and down, restart one
// allocation in place, stop one (and see it replaced), read the errors the client surfaces, and
// deregister with purge. It exists to keep the in-repo emulator (tools/nomad-emulator) honest: the
// client decodes every response into its own structs and builds its own error values, so a field
// the emulator names or types differently, a missing header or a wrong status code shows up here
// rather than only in tests written by the emulator's authors.
//
// It then stores a Nomad Variable at nomad/jobs/<job> for a second job, runs that job with a
// template that renders the variable into its secrets directory (nomadVar), reads the variable back,
// lists it, and deletes it; a check-and-set conflict and a read of a missing path must come back as
// the client's own error values (ErrCASConflict, ErrVariablePathNotFound).
//
// It prints one line per step, "ok <step>: <detail>" or "FAIL <step>: <why>", stops at the first
// failure (exit status 1) and always deregisters (purges) the jobs it registered and deletes the
// variable it stored.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"
)

const (
	group = "g"
	task  = "t"
	// The task records its index in its task directory and prints a line the alloc-fs step reads.
	taskScript = "echo $NOMAD_ALLOC_INDEX > ${NOMAD_TASK_DIR}/index; echo api-check $NOMAD_ALLOC_INDEX; exec sleep 3600"
	// Every wait is bounded by this; the emulator normally converges in well under a second, so
	// the margin only has to cover a loaded 2-core CI machine.
	waitDeadline = 60 * time.Second
	// The wait of each blocking query inside a wait loop. Short enough that a server which
	// forgets to wake a blocked query on some change still converges within waitDeadline.
	pollWait = 5 * time.Second
)

type failure struct{ step, why string }

func (f *failure) Error() string { return f.step + ": " + f.why }

func failf(step, format string, args ...any) error {
	return &failure{step: step, why: fmt.Sprintf(format, args...)}
}

type checker struct {
	ctx       context.Context
	client    *api.Client
	address   string
	token     string
	namespace string
	region    string
	workdir   string
	jobID     string
	// registered is set once the job may exist on the server, so that cleanup knows to purge it.
	registered bool
	evalID     string
	// The index of the register: allocations, the evaluation's completion and the summary all
	// come later, so blocking queries on them may start from it.
	registerIndex uint64
	// Counters over every wait loop, reported by the blocking-query step.
	queries, blockingQueries int
	// The variables part: the job whose template reads the variable, and the variable's path; the
	// flags tell cleanup what may exist.
	varJobID, varPath            string
	varJobRegistered, varCreated bool
}

func main() {
	address := flag.String("address", "", "Nomad HTTP address, e.g. http://127.0.0.1:4646 (required)")
	token := flag.String("token", "", "ACL token (X-Nomad-Token); when given, a wrong and a missing token must get 403")
	namespace := flag.String("namespace", "default", "namespace to register the job in")
	region := flag.String("region", "global", "the region the server is expected to fill in")
	workdir := flag.String("workdir", "", "the server's data directory; when given, each allocation's ${NOMAD_TASK_DIR}/index is read under <workdir>/allocs/<alloc id>/")
	flag.Parse()
	if *address == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: nomad-api-check -address http://127.0.0.1:PORT [-token T] [-namespace default] [-region global] [-workdir DIR]")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	client, err := api.NewClient(&api.Config{Address: *address, SecretID: *token, Namespace: *namespace})
	if err != nil {
		fmt.Printf("FAIL client: %v\n", err)
		os.Exit(1)
	}
	c := &checker{
		ctx: ctx, client: client, address: *address, token: *token, namespace: *namespace,
		region: *region, workdir: *workdir, jobID: "api-check-" + randomHex(4),
	}
	err = c.run()
	c.cleanup()
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			fmt.Printf("FAIL %s: %s\n", f.step, f.why)
		} else {
			fmt.Printf("FAIL %v\n", err)
		}
		os.Exit(1)
	}
	fmt.Println("all steps passed")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func ok(step, format string, args ...any) {
	fmt.Printf("ok %s: %s\n", step, fmt.Sprintf(format, args...))
}

func (c *checker) run() error {
	for _, step := range []func() error{c.stepAgent, c.stepACL, c.stepRegister} {
		if err := step(); err != nil {
			return err
		}
	}
	if err := c.lifecycle(); err != nil {
		return err
	}
	return c.variables()
}

// ------------------------------------------------------------------------------------------- a.

func (c *checker) stepAgent() error {
	leader, err := c.client.Status().Leader()
	if err != nil {
		return failf("leader", "Status().Leader(): %v", err)
	}
	if leader == "" {
		return failf("leader", "Status().Leader() answered an empty string; Nomad answers the leader's RPC address, e.g. \"127.0.0.1:4647\"")
	}
	ok("leader", "%q", leader)

	self, err := c.client.Agent().Self()
	if err != nil {
		return failf("agent-self", "Agent().Self(): %v", err)
	}
	if self.Member.Name == "" {
		return failf("agent-self", "Agent().Self() has no member.Name")
	}
	region, _ := self.Config["Region"].(string)
	ok("agent-self", "member %q, config.Region %q, %d config keys", self.Member.Name, region, len(self.Config))
	return nil
}

func (c *checker) stepACL() error {
	const step = "acl"
	if c.token == "" {
		fmt.Printf("skip %s: no -token given\n", step)
		return nil
	}
	jobs, _, err := c.client.Jobs().List(c.query())
	if err != nil {
		return failf(step, "Jobs().List with the right token: %v", err)
	}
	for _, probe := range []struct{ what, secret string }{
		{"a wrong token", c.token + "-wrong"},
		{"no token", ""},
	} {
		other, err := api.NewClient(&api.Config{Address: c.address, SecretID: probe.secret, Namespace: c.namespace})
		if err != nil {
			return failf(step, "second client: %v", err)
		}
		_, _, err = other.Jobs().List(nil)
		if err := expectStatus(err, 403, "Permission denied"); err != nil {
			other.Close()
			return failf(step, "Jobs().List with %s: %v", probe.what, err)
		}
		// Nomad authorizes no status endpoint (Status.Leader discards the authentication error), so
		// a leader probe cannot tell a good token from a bad one; a client must not be able to
		// learn otherwise from the emulator.
		_, err = other.Status().Leader()
		other.Close()
		if err != nil {
			return failf(step, "Status().Leader() with %s: %v; Nomad answers it whatever the token", probe.what, err)
		}
	}
	ok(step, "right token lists %d jobs; a wrong token and no token get 403 Permission denied from Jobs().List and the leader from Status().Leader()", len(jobs))
	return nil
}

// expectStatus checks that err is the client's UnexpectedResponseError with the given status code
// and a message containing text.
func expectStatus(err error, code int, text string) error {
	if err == nil {
		return fmt.Errorf("succeeded; want an error %d containing %q", code, text)
	}
	var ue api.UnexpectedResponseError
	if !errors.As(err, &ue) {
		return fmt.Errorf("got %v (not an HTTP status error); want %d %q", err, code, text)
	}
	if ue.StatusCode() != code {
		return fmt.Errorf("got status %d (%s); want %d %q", ue.StatusCode(), err, code, text)
	}
	if !strings.Contains(err.Error(), text) {
		return fmt.Errorf("got %q; want a message containing %q", err.Error(), text)
	}
	return nil
}

// ------------------------------------------------------------------------------------------- b.

func (c *checker) jobSpec() *api.Job {
	// Only what a user writes in a job file: the server fills in every default (Type, Priority,
	// Region, Namespace, ReschedulePolicy, ...), which the job-info step then checks.
	return &api.Job{
		ID:   new(c.jobID),
		Name: new(c.jobID),
		Meta: map[string]string{"purpose": "api-check"},
		TaskGroups: []*api.TaskGroup{{
			Name:  new(group),
			Count: new(2),
			RestartPolicy: &api.RestartPolicy{
				Attempts: new(3),
				Interval: new(5 * time.Minute),
				Delay:    new(time.Second),
				Mode:     new("fail"),
			},
			Tasks: []*api.Task{{
				Name:   task,
				Driver: "raw_exec",
				Config: map[string]any{
					"command": "/bin/sh",
					"args":    []string{"-c", taskScript},
				},
				Env:       map[string]string{"API_CHECK": "1"},
				Meta:      map[string]string{"role": "sleeper"},
				Resources: &api.Resources{CPU: new(100), MemoryMB: new(64)},
			}},
		}},
	}
}

func (c *checker) stepRegister() error {
	resp, wm, err := c.client.Jobs().Register(c.jobSpec(), c.write())
	c.registered = true
	if err != nil {
		return failf("register", "Jobs().Register: %v", err)
	}
	if resp.EvalID == "" {
		return failf("register", "JobRegisterResponse.EvalID is empty")
	}
	if resp.JobModifyIndex == 0 {
		return failf("register", "JobRegisterResponse.JobModifyIndex is 0")
	}
	if wm == nil || wm.LastIndex == 0 {
		return failf("register", "no X-Nomad-Index on the register response")
	}
	// Nomad commits the job and its evaluation in one raft entry and answers that entry's index
	// three times.
	if resp.EvalCreateIndex != resp.JobModifyIndex || wm.LastIndex != resp.JobModifyIndex {
		return failf("register", "JobModifyIndex %d, EvalCreateIndex %d, X-Nomad-Index %d: Nomad registers the job and creates its evaluation in one raft write and answers its index in all three",
			resp.JobModifyIndex, resp.EvalCreateIndex, wm.LastIndex)
	}
	c.evalID = resp.EvalID
	c.registerIndex = resp.JobModifyIndex
	ok("register", "job %s, EvalID %s, JobModifyIndex = EvalCreateIndex = X-Nomad-Index = %d", c.jobID, short(resp.EvalID), resp.JobModifyIndex)

	const step = "job-info"
	job, qm, err := c.client.Jobs().Info(c.jobID, c.query())
	if err != nil {
		return failf(step, "Jobs().Info: %v", err)
	}
	if qm.LastIndex == 0 {
		return failf(step, "no X-Nomad-Index on GET /v1/job/%s", c.jobID)
	}
	var problems []string
	want := func(what string, got, exp any) {
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			problems = append(problems, fmt.Sprintf("%s = %v, want %v", what, got, exp))
		}
	}
	want("ID", deref(job.ID), c.jobID)
	want("Type", deref(job.Type), "service")
	want("Priority", deref(job.Priority), 50)
	want("Region", deref(job.Region), c.region)
	want("Namespace", deref(job.Namespace), c.namespace)
	want("Version", deref(job.Version), 0)
	want("Meta", job.Meta, map[string]string{"purpose": "api-check"})
	if s := deref(job.Status); s != "pending" && s != "running" {
		problems = append(problems, fmt.Sprintf("Status = %q, want pending or running", s))
	}
	if deref(job.JobModifyIndex) != resp.JobModifyIndex {
		problems = append(problems, fmt.Sprintf("JobModifyIndex = %d, register answered %d", deref(job.JobModifyIndex), resp.JobModifyIndex))
	}
	if len(job.TaskGroups) != 1 {
		problems = append(problems, fmt.Sprintf("%d task groups, want 1", len(job.TaskGroups)))
	} else {
		tg := job.TaskGroups[0]
		want("TaskGroups[0].Name", deref(tg.Name), group)
		want("TaskGroups[0].Count", deref(tg.Count), 2)
		if rp := tg.RestartPolicy; rp == nil {
			problems = append(problems, "RestartPolicy missing")
		} else {
			// Durations travel as integer nanoseconds; a server storing milliseconds or seconds
			// shows up here.
			want("RestartPolicy.Delay", deref(rp.Delay), time.Second)
			want("RestartPolicy.Interval", deref(rp.Interval), 5*time.Minute)
			want("RestartPolicy.Attempts", deref(rp.Attempts), 3)
			want("RestartPolicy.Mode", deref(rp.Mode), "fail")
		}
		if len(tg.Tasks) != 1 {
			problems = append(problems, fmt.Sprintf("%d tasks, want 1", len(tg.Tasks)))
		} else {
			t := tg.Tasks[0]
			want("Task.Name", t.Name, task)
			want("Task.Driver", t.Driver, "raw_exec")
			want("Task.Config.command", t.Config["command"], "/bin/sh")
			want("Task.Config.args", t.Config["args"], []any{"-c", taskScript})
			want("Task.Env", t.Env, map[string]string{"API_CHECK": "1"})
			want("Task.Meta", t.Meta, map[string]string{"role": "sleeper"})
			if t.Resources == nil {
				problems = append(problems, "Task.Resources missing")
			} else {
				want("Task.Resources.CPU", deref(t.Resources.CPU), 100)
				want("Task.Resources.MemoryMB", deref(t.Resources.MemoryMB), 64)
			}
		}
	}
	if len(problems) > 0 {
		return failf(step, "Jobs().Info(%s): %s", c.jobID, strings.Join(problems, "; "))
	}
	ok(step, "Type %s, Priority %d, Region %s, Namespace %s, Status %s, Version %d, Datacenters %v; the spec's fields came back as sent",
		deref(job.Type), deref(job.Priority), deref(job.Region), deref(job.Namespace), deref(job.Status), deref(job.Version), job.Datacenters)
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (c *checker) query() *api.QueryOptions {
	return (&api.QueryOptions{}).WithContext(c.ctx)
}

func (c *checker) write() *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(c.ctx)
}

// ------------------------------------------------------------------------------------ waiting

// waitFor reads until cond holds, with blocking queries: the first read carries index from (0 for
// a plain read: a server's index is per table, so the index of a write need not be one that a
// read of another table reaches), every later one the index of the answer before, so the server
// answers as soon as something changed. It fails when an answer has no X-Nomad-Index, when the
// read's index goes backwards, or after waitDeadline, with cond's description of the last state.
func waitFor[T any](c *checker, step string, from uint64, fetch func(*api.QueryOptions) (T, *api.QueryMeta, error), cond func(T) (bool, string)) (T, error) {
	deadline := time.Now().Add(waitDeadline)
	index := from
	var zero T
	for first := true; ; first = false {
		remaining := time.Until(deadline)
		wait := min(pollWait, max(remaining, time.Second))
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(c.ctx)
		v, qm, err := fetch(q)
		if err != nil {
			return zero, failf(step, "%v", err)
		}
		c.queries++
		if index > 0 {
			c.blockingQueries++
		}
		if qm == nil || qm.LastIndex == 0 {
			return zero, failf(step, "an answer has no X-Nomad-Index")
		}
		if !first && qm.LastIndex < index {
			return zero, failf(step, "X-Nomad-Index of the same read went back from %d to %d", index, qm.LastIndex)
		}
		done, state := cond(v)
		if done {
			return v, nil
		}
		if time.Now().After(deadline) {
			return zero, failf(step, "not reached within %s; last seen: %s", waitDeadline, state)
		}
		if c.ctx.Err() != nil {
			return zero, failf(step, "interrupted")
		}
		index = qm.LastIndex
	}
}

func (c *checker) allocs(q *api.QueryOptions) ([]*api.AllocationListStub, *api.QueryMeta, error) {
	return c.client.Jobs().Allocations(c.jobID, false, q)
}

func (c *checker) allocName(i int) string { return fmt.Sprintf("%s.%s[%d]", c.jobID, group, i) }

func describe(allocs []*api.AllocationListStub) string {
	if len(allocs) == 0 {
		return "no allocations"
	}
	parts := make([]string, 0, len(allocs))
	for _, a := range allocs {
		parts = append(parts, fmt.Sprintf("%s %s desired=%s client=%s", a.Name, short(a.ID), a.DesiredStatus, a.ClientStatus))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// runningExactly maps the names of the running allocations the scheduler wants running to them,
// and reports whether exactly the indexes given run (and nothing else is wanted running).
func (c *checker) runningExactly(allocs []*api.AllocationListStub, indexes ...int) (map[string]*api.AllocationListStub, bool) {
	byName := map[string]*api.AllocationListStub{}
	desired := 0
	for _, a := range allocs {
		if a.DesiredStatus != "run" {
			continue
		}
		desired++
		if a.ClientStatus == "running" {
			byName[a.Name] = a
		}
	}
	if desired != len(indexes) || len(byName) != len(indexes) {
		return byName, false
	}
	for _, i := range indexes {
		if _, found := byName[c.allocName(i)]; !found {
			return byName, false
		}
	}
	return byName, true
}

// ------------------------------------------------------------------------------------------- c.

func (c *checker) lifecycle() error {
	allocs, err := waitFor(c, "allocs-running", c.registerIndex, c.allocs, func(allocs []*api.AllocationListStub) (bool, string) {
		_, done := c.runningExactly(allocs, 0, 1)
		return done, describe(allocs)
	})
	if err != nil {
		return err
	}
	running, _ := c.runningExactly(allocs, 0, 1)
	for _, a := range running {
		if a.JobID != c.jobID || a.TaskGroup != group || a.Namespace != c.namespace {
			return failf("allocs-running", "alloc %s: JobID %q TaskGroup %q Namespace %q", a.ID, a.JobID, a.TaskGroup, a.Namespace)
		}
		if ts := a.TaskStates[task]; ts == nil || ts.State != "running" {
			return failf("allocs-running", "alloc %s is running but TaskStates[%q] = %+v", a.Name, task, ts)
		}
	}
	ok("allocs-running", "%s (%d queries so far, %d of them blocking)", describe(allocs), c.queries, c.blockingQueries)
	ids := map[int]string{0: running[c.allocName(0)].ID, 1: running[c.allocName(1)].ID}

	eval, err := waitFor(c, "eval-complete", c.registerIndex, func(q *api.QueryOptions) (*api.Evaluation, *api.QueryMeta, error) {
		return c.client.Evaluations().Info(c.evalID, q)
	}, func(e *api.Evaluation) (bool, string) {
		return e.Status == "complete", fmt.Sprintf("Status %q", e.Status)
	})
	if err != nil {
		return err
	}
	if eval.JobID != c.jobID {
		return failf("eval-complete", "evaluation %s has JobID %q", eval.ID, eval.JobID)
	}
	ok("eval-complete", "evaluation %s: Status %s, TriggeredBy %q, Type %q", short(eval.ID), eval.Status, eval.TriggeredBy, eval.Type)

	summary, err := waitFor(c, "summary", c.registerIndex, func(q *api.QueryOptions) (*api.JobSummary, *api.QueryMeta, error) {
		return c.client.Jobs().Summary(c.jobID, q)
	}, func(s *api.JobSummary) (bool, string) {
		return s.Summary[group].Running == 2, fmt.Sprintf("Summary[%q] = %+v", group, s.Summary[group])
	})
	if err != nil {
		return err
	}
	ok("summary", "Summary[%q] = %+v", group, summary.Summary[group])

	if err := c.stepBlocking(); err != nil {
		return err
	}
	if err := c.checkIndexFiles("task-dir", ids); err != nil {
		return err
	}
	if err := c.stepFiles(ids[1]); err != nil {
		return err
	}
	if err := c.stepScale(ids); err != nil {
		return err
	}
	if err := c.stepRestart(ids[0]); err != nil {
		return err
	}
	if err := c.stepStop(ids); err != nil {
		return err
	}
	if err := c.stepErrors(); err != nil {
		return err
	}
	return c.stepPurge()
}

// stepBlocking checks that a blocking query on an index nothing has moved past holds the answer:
// only a lower bound on time, which a slow machine cannot break. When something else changed in
// between (the answer carries a higher index), it tries again.
func (c *checker) stepBlocking() error {
	const step = "blocking-query"
	const wait = 2 * time.Second
	_, qm, err := c.allocs(c.query())
	if err != nil {
		return failf(step, "%v", err)
	}
	index := qm.LastIndex
	for range 5 {
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(c.ctx)
		started := time.Now()
		_, qm, err := c.allocs(q)
		took := time.Since(started)
		if err != nil {
			return failf(step, "%v", err)
		}
		if qm.LastIndex > index {
			index = qm.LastIndex
			continue
		}
		if qm.LastIndex < index {
			return failf(step, "X-Nomad-Index went back from %d to %d", index, qm.LastIndex)
		}
		if took < wait*3/4 {
			return failf(step, "GET allocations?index=%d&wait=%s answered after %s with the same index: the query did not block", index, wait, took.Round(time.Millisecond))
		}
		ok(step, "index=%d&wait=%s held %s and answered with the same index; wait loops so far made %d queries, %d blocking",
			index, wait, took.Round(10*time.Millisecond), c.queries, c.blockingQueries)
		return nil
	}
	return failf(step, "the index kept moving (now %d) while nothing was changed by this check", index)
}

// checkIndexFiles reads what each task wrote to ${NOMAD_TASK_DIR}/index (its NOMAD_ALLOC_INDEX),
// when -workdir names the server's data directory.
func (c *checker) checkIndexFiles(step string, ids map[int]string) error {
	if c.workdir == "" {
		fmt.Printf("skip %s: no -workdir given\n", step)
		return nil
	}
	var seen []string
	for _, i := range slices.Sorted(maps.Keys(ids)) {
		path, content, err := c.waitIndexFile(ids[i])
		if err != nil {
			return failf(step, "%v", err)
		}
		if content != fmt.Sprint(i) {
			return failf(step, "%s holds %q; NOMAD_ALLOC_INDEX of %s should be %d", path, content, c.allocName(i), i)
		}
		rel, _ := filepath.Rel(c.workdir, path)
		seen = append(seen, fmt.Sprintf("%s=%s", rel, content))
	}
	ok(step, "%s", strings.Join(seen, ", "))
	return nil
}

// indexFile finds the task's index file: Nomad's layout is <alloc dir>/<task>/local, with the
// alloc dir at <workdir>/allocs/<alloc id> in the emulator; any "local/index" below the alloc dir
// is accepted so that the message can say where it was.
func (c *checker) indexFile(allocID string) string {
	root := filepath.Join(c.workdir, "allocs", allocID)
	exact := filepath.Join(root, task, "local", "index")
	if _, err := os.Stat(exact); err == nil {
		return exact
	}
	found := ""
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "index" && filepath.Base(filepath.Dir(p)) == "local" {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	return found
}

func (c *checker) waitIndexFile(allocID string) (string, string, error) {
	deadline := time.Now().Add(waitDeadline)
	for {
		if p := c.indexFile(allocID); p != "" {
			b, err := os.ReadFile(p)
			if err == nil && len(b) > 0 {
				return p, strings.TrimSpace(string(b)), nil
			}
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("no %s/local/index under %s within %s", task, filepath.Join(c.workdir, "allocs", allocID), waitDeadline)
		}
		select {
		case <-c.ctx.Done():
			return "", "", errors.New("interrupted")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// stepFiles reads the task's stdout through the allocation file system API (/v1/client/fs): the
// listing of alloc/logs, the file's size, and bytes at an offset, as the Ardea plugin reads logs.
func (c *checker) stepFiles(allocID string) error {
	const step = "alloc-fs"
	alloc, _, err := c.client.Allocations().Info(allocID, c.query())
	if err != nil {
		return failf(step, "Allocations().Info(%s): %v", short(allocID), err)
	}
	path := "alloc/logs/" + task + ".stdout.0"
	want := "api-check 1\n"
	deadline := time.Now().Add(waitDeadline)
	for {
		info, _, err := c.client.AllocFS().Stat(alloc, path, c.query())
		if err == nil && info.Size == int64(len(want)) {
			if info.Name != task+".stdout.0" || info.IsDir {
				return failf(step, "Stat(%s) = %+v", path, info)
			}
			break
		}
		if time.Now().After(deadline) {
			return failf(step, "Stat(%s) did not show %d bytes within %s: %+v, %v", path, len(want), waitDeadline, info, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	entries, _, err := c.client.AllocFS().List(alloc, "alloc/logs", c.query())
	if err != nil {
		return failf(step, "List(alloc/logs): %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if !slices.Contains(names, task+".stdout.0") || !slices.Contains(names, task+".stderr.0") {
		return failf(step, "List(alloc/logs) = %v, want %s.stdout.0 and %s.stderr.0 among them", names, task, task)
	}
	read := func(offset, limit int64) (string, error) {
		r, err := c.client.AllocFS().ReadAt(alloc, path, offset, limit, c.query())
		if err != nil {
			return "", err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		return string(b), err
	}
	if got, err := read(4, 5); err != nil || got != "check" {
		return failf(step, "ReadAt(%s, 4, 5) = %q, %v; want %q", path, got, err, "check")
	}
	if got, err := read(10, 100); err != nil || got != "1\n" {
		return failf(step, "ReadAt(%s, 10, 100) = %q, %v; want %q", path, got, err, "1\n")
	}
	if _, _, err := c.client.AllocFS().Stat(alloc, "alloc/logs/no-such-file", c.query()); err == nil {
		return failf(step, "Stat of a missing file succeeded")
	}
	ok(step, "%s of %s: %d bytes; List %v; ReadAt at offsets 4 and 10 as written", path, c.allocName(1), len(want), names)
	return nil
}

// ------------------------------------------------------------------------------------------- d.

func (c *checker) stepScale(ids map[int]string) error {
	// A blocking query started before the scale must wake up because of it.
	_, qm, err := c.allocs(c.query())
	if err != nil {
		return failf("scale-up", "%v", err)
	}
	before := qm.LastIndex
	type answer struct {
		qm   *api.QueryMeta
		took time.Duration
		err  error
	}
	woke := make(chan answer, 1)
	go func() {
		started := time.Now()
		_, qm, err := c.allocs((&api.QueryOptions{WaitIndex: before, WaitTime: waitDeadline}).WithContext(c.ctx))
		woke <- answer{qm, time.Since(started), err}
	}()

	resp, _, err := c.client.Jobs().Scale(c.jobID, group, new(3), "api-check: up to 3", false, nil, c.write())
	if err != nil {
		return failf("scale-up", "Jobs().Scale(%s, %s, 3): %v", c.jobID, group, err)
	}
	if resp.EvalID == "" || resp.JobModifyIndex == 0 {
		return failf("scale-up", "JobRegisterResponse %+v: want an EvalID and a JobModifyIndex", resp)
	}
	allocs, err := waitFor(c, "scale-up", 0, c.allocs, func(allocs []*api.AllocationListStub) (bool, string) {
		_, done := c.runningExactly(allocs, 0, 1, 2)
		return done, describe(allocs)
	})
	if err != nil {
		return err
	}
	running, _ := c.runningExactly(allocs, 0, 1, 2)
	for i := range 2 {
		if got := running[c.allocName(i)].ID; got != ids[i] {
			return failf("scale-up", "%s changed from %s to %s: a count change must leave existing allocations alone", c.allocName(i), ids[i], got)
		}
	}
	third := running[c.allocName(2)].ID
	w := <-woke
	if w.err != nil {
		return failf("scale-up", "the blocking query started before the scale: %v", w.err)
	}
	if w.qm.LastIndex <= before {
		return failf("scale-up", "the blocking query started at index %d answered index %d after the scale", before, w.qm.LastIndex)
	}
	if w.took > waitDeadline*3/4 {
		return failf("scale-up", "the blocking query started at index %d was not woken by the scale (answered after %s)", before, w.took.Round(time.Second))
	}
	ok("scale-up", "%s running as %s, the other two unchanged; EvalID %s; a blocking query at index %d woke with index %d",
		c.allocName(2), short(third), short(resp.EvalID), before, w.qm.LastIndex)

	st, _, err := c.client.Jobs().ScaleStatus(c.jobID, c.query())
	if err != nil {
		return failf("scale-status", "Jobs().ScaleStatus: %v", err)
	}
	tg, found := st.TaskGroups[group]
	if !found || tg.Desired != 3 {
		return failf("scale-status", "TaskGroups[%q] = %+v (found %v), want Desired 3", group, tg, found)
	}
	if st.JobID != c.jobID || st.Namespace != c.namespace || st.JobStopped {
		return failf("scale-status", "JobID %q Namespace %q JobStopped %v", st.JobID, st.Namespace, st.JobStopped)
	}
	ok("scale-status", "TaskGroups[%q]: Desired %d, Placed %d, Running %d, %d events", group, tg.Desired, tg.Placed, tg.Running, len(tg.Events))

	resp, _, err = c.client.Jobs().Scale(c.jobID, group, new(2), "api-check: back to 2", false, nil, c.write())
	if err != nil {
		return failf("scale-down", "Jobs().Scale(%s, %s, 2): %v", c.jobID, group, err)
	}
	allocs, err = waitFor(c, "scale-down", 0, c.allocs, func(allocs []*api.AllocationListStub) (bool, string) {
		_, done := c.runningExactly(allocs, 0, 1)
		if !done {
			return false, describe(allocs)
		}
		for _, a := range allocs {
			if a.ID == third {
				return a.DesiredStatus == "stop" && a.ClientStatus == "complete", describe(allocs)
			}
		}
		return false, describe(allocs) + fmt.Sprintf(" (%s, the stopped %s, is no longer listed)", short(third), c.allocName(2))
	})
	if err != nil {
		return err
	}
	running, _ = c.runningExactly(allocs, 0, 1)
	for i := range 2 {
		if got := running[c.allocName(i)].ID; got != ids[i] {
			return failf("scale-down", "%s changed from %s to %s: scaling down must stop only the highest index", c.allocName(i), ids[i], got)
		}
	}
	ok("scale-down", "%s (%s) is DesiredStatus stop, ClientStatus complete; %s and %s kept their IDs; EvalID %s",
		c.allocName(2), short(third), c.allocName(0), c.allocName(1), short(resp.EvalID))
	return nil
}

// ------------------------------------------------------------------------------------------- e.

func (c *checker) stepRestart(id string) error {
	const step = "alloc-restart"
	alloc, _, err := c.client.Allocations().Info(id, c.query())
	if err != nil {
		return failf(step, "Allocations().Info(%s): %v", id, err)
	}
	if alloc.Name != c.allocName(0) || alloc.ClientStatus != "running" || alloc.TaskStates[task] == nil {
		return failf(step, "Allocations().Info(%s): Name %q ClientStatus %q TaskStates %v", id, alloc.Name, alloc.ClientStatus, alloc.TaskStates)
	}
	restartsBefore := alloc.TaskStates[task].Restarts
	// With the data directory at hand, the index file proves the task really ran again.
	indexPath := ""
	if c.workdir != "" {
		if indexPath = c.indexFile(id); indexPath == "" {
			return failf(step, "no index file for %s under %s", id, c.workdir)
		}
		if err := os.Remove(indexPath); err != nil {
			return failf(step, "%v", err)
		}
	}
	if err := c.client.Allocations().Restart(alloc, task, c.query()); err != nil {
		return failf(step, "Allocations().Restart(%s, %q): %v", id, task, err)
	}
	got, err := waitFor(c, step, 0, func(q *api.QueryOptions) (*api.Allocation, *api.QueryMeta, error) {
		return c.client.Allocations().Info(id, q)
	}, func(a *api.Allocation) (bool, string) {
		ts := a.TaskStates[task]
		if ts == nil {
			return false, fmt.Sprintf("ClientStatus %s, no TaskStates[%q]", a.ClientStatus, task)
		}
		return ts.Restarts == restartsBefore+1 && ts.State == "running" && a.ClientStatus == "running",
			fmt.Sprintf("ClientStatus %s, TaskStates[%q].State %s, Restarts %d", a.ClientStatus, task, ts.State, ts.Restarts)
	})
	if err != nil {
		return err
	}
	if got.ID != id || got.Name != c.allocName(0) {
		return failf(step, "after the restart the allocation is %s %s", got.ID, got.Name)
	}
	events := []string{}
	for _, e := range got.TaskStates[task].Events {
		events = append(events, e.Type)
	}
	detail := ""
	if indexPath != "" {
		_, content, err := c.waitIndexFile(id)
		if err != nil {
			return failf(step, "the task did not run again: %v", err)
		}
		if content != "0" {
			return failf(step, "after the restart %s holds %q, want 0", indexPath, content)
		}
		detail = "; the task wrote its index file again"
	}
	allocs, _, err := c.allocs(c.query())
	if err != nil {
		return failf(step, "%v", err)
	}
	if _, done := c.runningExactly(allocs, 0, 1); !done {
		return failf(step, "after the restart: %s", describe(allocs))
	}
	ok(step, "%s (%s) same ID, Restarts %d, State %s, events %v%s", got.Name, short(id), got.TaskStates[task].Restarts, got.TaskStates[task].State, events, detail)
	return nil
}

func (c *checker) stepStop(ids map[int]string) error {
	const step = "alloc-stop"
	old := ids[1]
	alloc, _, err := c.client.Allocations().Info(old, c.query())
	if err != nil {
		return failf(step, "Allocations().Info(%s): %v", old, err)
	}
	resp, err := c.client.Allocations().Stop(alloc, c.query())
	if err != nil {
		return failf(step, "Allocations().Stop(%s): %v", old, err)
	}
	if resp.EvalID == "" {
		return failf(step, "AllocStopResponse.EvalID is empty")
	}
	var replacement *api.AllocationListStub
	_, err = waitFor(c, step, 0, c.allocs, func(allocs []*api.AllocationListStub) (bool, string) {
		replacement = nil
		oldDone := false
		for _, a := range allocs {
			if a.ID == old {
				oldDone = a.DesiredStatus == "stop" && a.ClientStatus == "complete"
			}
		}
		running, done := c.runningExactly(allocs, 0, 1)
		if done {
			replacement = running[c.allocName(1)]
		}
		return oldDone && replacement != nil && replacement.ID != old && running[c.allocName(0)].ID == ids[0], describe(allocs)
	})
	if err != nil {
		return err
	}
	full, _, err := c.client.Allocations().Info(replacement.ID, c.query())
	if err != nil {
		return failf(step, "Allocations().Info(%s): %v", replacement.ID, err)
	}
	ok(step, "%s: %s is complete, replaced by %s (PreviousAllocation %q); stop EvalID %s",
		c.allocName(1), short(old), short(replacement.ID), short(full.PreviousAllocation), short(resp.EvalID))
	ids[1] = replacement.ID
	return c.checkIndexFiles("task-dir-replacement", map[int]string{1: replacement.ID})
}

// ------------------------------------------------------------------------------------------- f.

func (c *checker) stepErrors() error {
	_, _, err := c.client.Jobs().Info("no-such-job", c.query())
	if err := expectStatus(err, 404, "job not found"); err != nil {
		return failf("error-job-not-found", "Jobs().Info(\"no-such-job\"): %v", err)
	}
	ok("error-job-not-found", "%v", err)

	_, _, err = c.client.Jobs().Scale(c.jobID, "no-such-group", new(1), "api-check", false, nil, c.write())
	if err := expectStatus(err, 400, "no-such-group"); err != nil {
		return failf("error-scale-missing-group", "Jobs().Scale(%s, \"no-such-group\", 1): %v", c.jobID, err)
	}
	ok("error-scale-missing-group", "%v", err)
	return nil
}

// ------------------------------------------------------------------------------------------- g.

func (c *checker) stepPurge() error {
	const step = "deregister-purge"
	allocs, _, err := c.allocs(c.query())
	if err != nil {
		return failf(step, "%v", err)
	}
	evalID, _, err := c.client.Jobs().Deregister(c.jobID, true, c.write())
	if err != nil {
		return failf(step, "Jobs().Deregister(%s, purge): %v", c.jobID, err)
	}
	if evalID == "" {
		return failf(step, "Jobs().Deregister of an existing job answered an empty EvalID")
	}
	c.registered = false
	_, _, err = c.client.Jobs().Info(c.jobID, c.query())
	if err := expectStatus(err, 404, "job not found"); err != nil {
		return failf(step, "Jobs().Info after the purge: %v", err)
	}
	// Nomad keeps a purged job's allocations until garbage collection; they must stop. An
	// allocation already collected (404) is stopped too.
	for _, a := range allocs {
		_, err := waitFor(c, step, 0, func(q *api.QueryOptions) (*api.Allocation, *api.QueryMeta, error) {
			got, qm, err := c.client.Allocations().Info(a.ID, q)
			var ue api.UnexpectedResponseError
			if errors.As(err, &ue) && ue.StatusCode() == 404 {
				return nil, &api.QueryMeta{LastIndex: max(q.WaitIndex, 1)}, nil
			}
			return got, qm, err
		}, func(got *api.Allocation) (bool, string) {
			if got == nil {
				return true, "collected"
			}
			return got.ClientStatus != "running" && got.ClientStatus != "pending",
				fmt.Sprintf("%s DesiredStatus %s ClientStatus %s", got.Name, got.DesiredStatus, got.ClientStatus)
		})
		if err != nil {
			return err
		}
	}
	after, _, err := c.allocs(c.query())
	if err != nil {
		return failf(step, "Jobs().Allocations after the purge: %v", err)
	}
	for _, a := range after {
		if a.ClientStatus == "running" || a.ClientStatus == "pending" {
			return failf(step, "after the purge: %s", describe(after))
		}
	}
	ok(step, "EvalID %s; Jobs().Info answers 404 job not found; none of the %d allocations runs (%d still listed)", short(evalID), len(allocs), len(after))
	return nil
}

// cleanup purges the jobs and deletes the variable a failure left behind; with a fresh context, so
// that it also runs after an interrupt.
func (c *checker) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := (&api.WriteOptions{}).WithContext(ctx)
	for _, job := range []struct {
		id  string
		set bool
	}{{c.jobID, c.registered}, {c.varJobID, c.varJobRegistered}} {
		if !job.set {
			continue
		}
		if _, _, err := c.client.Jobs().Deregister(job.id, true, w); err != nil {
			fmt.Printf("cleanup: Jobs().Deregister(%s, purge) failed: %v\n", job.id, err)
		} else {
			fmt.Printf("cleanup: deregistered (purged) %s\n", job.id)
		}
	}
	if c.varCreated {
		if _, err := c.client.Variables().Delete(c.varPath, w); err != nil {
			fmt.Printf("cleanup: Variables().Delete(%s) failed: %v\n", c.varPath, err)
		} else {
			fmt.Printf("cleanup: deleted variable %s\n", c.varPath)
		}
	}
}

// ------------------------------------------------------------------------------------------- h.

// variables stores a variable where the implicit workload policy lets the job's tasks read it, has
// a job render it with a nomadVar template, and reads, lists and deletes it through the client.
func (c *checker) variables() error {
	c.varJobID = c.jobID + "-var"
	c.varPath = "nomad/jobs/" + c.varJobID
	secret := randomHex(8)

	const create = "variable-create"
	v := api.NewVariable(c.varPath)
	v.Items["value"] = secret
	created, wm, err := c.client.Variables().Create(v, c.write())
	c.varCreated = true
	if err != nil {
		return failf(create, "Variables().Create(%s): %v", c.varPath, err)
	}
	var problems []string
	if created.Path != c.varPath || created.Namespace != c.namespace || created.Items["value"] != secret || len(created.Items) != 1 {
		problems = append(problems, fmt.Sprintf("answered Path %q Namespace %q Items %v; sent Path %q, Items {value: %s} in namespace %q", created.Path, created.Namespace, created.Items, c.varPath, secret, c.namespace))
	}
	if created.CreateIndex == 0 || created.ModifyIndex != created.CreateIndex {
		problems = append(problems, fmt.Sprintf("CreateIndex %d, ModifyIndex %d: a new variable has both at its write's index", created.CreateIndex, created.ModifyIndex))
	}
	// int64 nanoseconds: a server answering seconds or milliseconds lands decades in the past.
	if since := time.Since(time.Unix(0, created.CreateTime)); since < -time.Minute || since > time.Hour || created.ModifyTime != created.CreateTime {
		problems = append(problems, fmt.Sprintf("CreateTime %d, ModifyTime %d are not the write's time in Unix nanoseconds", created.CreateTime, created.ModifyTime))
	}
	if wm == nil || wm.LastIndex != created.ModifyIndex {
		problems = append(problems, fmt.Sprintf("X-Nomad-Index %v is not the variable's ModifyIndex %d", wm, created.ModifyIndex))
	}
	if len(problems) > 0 {
		return failf(create, "Variables().Create(%s): %s", c.varPath, strings.Join(problems, "; "))
	}
	ok(create, "%s@%s: CreateIndex = ModifyIndex = X-Nomad-Index = %d, CreateTime %s", created.Path, created.Namespace, created.ModifyIndex, time.Unix(0, created.CreateTime).UTC().Format(time.RFC3339Nano))

	const cas = "variable-cas-conflict"
	dup := api.NewVariable(c.varPath)
	dup.Items["value"] = "other"
	_, _, err = c.client.Variables().CheckedCreate(dup, c.write())
	var conflict api.ErrCASConflict
	if !errors.As(err, &conflict) {
		return failf(cas, "Variables().CheckedCreate of an existing path: got %v; want an api.ErrCASConflict (409 with the variable in the body)", err)
	}
	if conflict.Conflict == nil || conflict.Conflict.ModifyIndex != created.ModifyIndex || conflict.Conflict.Items["value"] != secret {
		return failf(cas, "ErrCASConflict.Conflict = %+v; want the stored variable (ModifyIndex %d, Items {value: %s})", conflict.Conflict, created.ModifyIndex, secret)
	}
	next := created.Copy()
	next.Items["round"] = "2"
	updated, _, err := c.client.Variables().CheckedUpdate(next, c.write())
	if err != nil {
		return failf(cas, "Variables().CheckedUpdate with the current ModifyIndex %d: %v", created.ModifyIndex, err)
	}
	if updated.ModifyIndex <= created.ModifyIndex || updated.CreateIndex != created.CreateIndex || updated.CreateTime != created.CreateTime {
		return failf(cas, "after CheckedUpdate: CreateIndex %d ModifyIndex %d CreateTime %d; want CreateIndex %d and CreateTime %d kept, ModifyIndex past %d",
			updated.CreateIndex, updated.ModifyIndex, updated.CreateTime, created.CreateIndex, created.CreateTime, created.ModifyIndex)
	}
	ok(cas, "CheckedCreate of an existing path: %v; CheckedUpdate at index %d moved ModifyIndex to %d", conflict, created.ModifyIndex, updated.ModifyIndex)

	const read = "variable-read"
	got, qm, err := c.client.Variables().Read(c.varPath, c.query())
	if err != nil {
		return failf(read, "Variables().Read(%s): %v", c.varPath, err)
	}
	if !maps.Equal(got.Items, updated.Items) || got.ModifyIndex != updated.ModifyIndex || got.CreateIndex != created.CreateIndex || got.Path != c.varPath {
		return failf(read, "Variables().Read(%s) = %+v; want the update %+v", c.varPath, got, updated)
	}
	if qm == nil || qm.LastIndex < updated.ModifyIndex {
		return failf(read, "X-Nomad-Index %v is behind the variable's ModifyIndex %d", qm, updated.ModifyIndex)
	}
	ok(read, "Items %v, ModifyIndex %d", got.Items, got.ModifyIndex)

	if err := c.stepVariableList(updated); err != nil {
		return err
	}
	if err := c.stepVariableTemplate(secret); err != nil {
		return err
	}

	const missing = "variable-read-missing"
	_, _, err = c.client.Variables().Read(c.varPath+"/missing", c.query())
	if !errors.Is(err, api.ErrVariablePathNotFound) {
		return failf(missing, "Variables().Read of a missing path: got %v; want api.ErrVariablePathNotFound (Nomad answers 404)", err)
	}
	ok(missing, "%v", err)

	const del = "variable-delete"
	if _, err := c.client.Variables().Delete(c.varPath, c.write()); err != nil {
		return failf(del, "Variables().Delete(%s): %v", c.varPath, err)
	}
	c.varCreated = false
	if _, _, err := c.client.Variables().Read(c.varPath, c.query()); !errors.Is(err, api.ErrVariablePathNotFound) {
		return failf(del, "Variables().Read after the delete: got %v; want api.ErrVariablePathNotFound", err)
	}
	ok(del, "deleted %s; a Read then gives %v", c.varPath, api.ErrVariablePathNotFound)
	return nil
}

func (c *checker) stepVariableList(want *api.Variable) error {
	const step = "variable-list"
	all, qm, err := c.client.Variables().List(c.query())
	if err != nil {
		return failf(step, "Variables().List: %v", err)
	}
	if qm == nil || qm.LastIndex == 0 {
		return failf(step, "no X-Nomad-Index on GET /v1/vars")
	}
	found := slices.IndexFunc(all, func(m *api.VariableMetadata) bool { return m.Path == c.varPath })
	if found < 0 {
		return failf(step, "Variables().List has no %s among %d variables", c.varPath, len(all))
	}
	mine, _, err := c.client.Variables().PrefixList(c.varPath, c.query())
	if err != nil {
		return failf(step, "Variables().PrefixList(%s): %v", c.varPath, err)
	}
	if len(mine) != 1 || *mine[0] != *want.Metadata() {
		return failf(step, "Variables().PrefixList(%s) = %v; want exactly %+v", c.varPath, mine, *want.Metadata())
	}
	none, _, err := c.client.Variables().PrefixList(c.varPath+"-none", c.query())
	if err != nil || len(none) != 0 {
		return failf(step, "Variables().PrefixList(%s-none) = %v, %v; want no variables", c.varPath, none, err)
	}
	ok(step, "List has %d variable(s) including %s; PrefixList gives its metadata (ModifyIndex %d) and nothing for another prefix", len(all), c.varPath, mine[0].ModifyIndex)
	return nil
}

// stepVariableTemplate runs a job whose task template reads the variable with nomadVar into
// secrets/value (mode 0600) and whose command copies it to ${NOMAD_TASK_DIR}/value, where this
// check reads it.
func (c *checker) stepVariableTemplate(secret string) error {
	const step = "variable-template"
	if c.workdir == "" {
		fmt.Printf("skip %s: no -workdir given\n", step)
		return nil
	}
	job := &api.Job{
		ID:   new(c.varJobID),
		Name: new(c.varJobID),
		TaskGroups: []*api.TaskGroup{{
			Name:  new(group),
			Count: new(1),
			Tasks: []*api.Task{{
				Name:   task,
				Driver: "raw_exec",
				Config: map[string]any{
					"command": "/bin/sh",
					"args":    []string{"-c", "cp \"$NOMAD_SECRETS_DIR/value\" \"${NOMAD_TASK_DIR}/value\"; exec sleep 3600"},
				},
				Templates: []*api.Template{{
					EmbeddedTmpl: new(fmt.Sprintf("{{ with nomadVar %q }}{{ .value }}{{ end }}", c.varPath)),
					DestPath:     new("secrets/value"),
					Perms:        new("0600"),
				}},
				Resources: &api.Resources{CPU: new(100), MemoryMB: new(64)},
			}},
		}},
	}
	resp, _, err := c.client.Jobs().Register(job, c.write())
	c.varJobRegistered = true
	if err != nil {
		return failf(step, "Jobs().Register(%s): %v", c.varJobID, err)
	}
	allocs, err := waitFor(c, step, resp.JobModifyIndex, func(q *api.QueryOptions) ([]*api.AllocationListStub, *api.QueryMeta, error) {
		return c.client.Jobs().Allocations(c.varJobID, false, q)
	}, func(allocs []*api.AllocationListStub) (bool, string) {
		for _, a := range allocs {
			if a.ClientStatus == "failed" {
				return true, ""
			}
		}
		return len(allocs) == 1 && allocs[0].ClientStatus == "running", describe(allocs)
	})
	if err != nil {
		return err
	}
	alloc := allocs[0]
	for _, a := range allocs {
		if a.ClientStatus == "failed" {
			alloc = a
		}
	}
	if alloc.ClientStatus != "running" {
		events := []string{}
		for _, e := range alloc.TaskStates[task].Events {
			events = append(events, e.Type+": "+e.DisplayMessage)
		}
		return failf(step, "the allocation failed: %s", strings.Join(events, "; "))
	}
	taskDir := filepath.Join(c.workdir, "allocs", alloc.ID, task)
	copied := filepath.Join(taskDir, "local", "value")
	deadline := time.Now().Add(waitDeadline)
	var content []byte
	for {
		content, err = os.ReadFile(copied)
		if err == nil && len(content) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return failf(step, "no %s within %s", copied, waitDeadline)
		}
		select {
		case <-c.ctx.Done():
			return failf(step, "interrupted")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if string(content) != secret {
		return failf(step, "%s holds %q; the variable's value is %q", copied, content, secret)
	}
	info, err := os.Stat(filepath.Join(taskDir, "secrets", "value"))
	if err != nil {
		return failf(step, "the rendered template: %v", err)
	}
	if info.Mode().Perm() != 0o600 {
		return failf(step, "secrets/value has mode %v; the template's Perms is 0600", info.Mode().Perm())
	}
	if _, _, err := c.client.Jobs().Deregister(c.varJobID, true, c.write()); err != nil {
		return failf(step, "Jobs().Deregister(%s, purge): %v", c.varJobID, err)
	}
	c.varJobRegistered = false
	rel, _ := filepath.Rel(c.workdir, copied)
	ok(step, "job %s rendered the variable into secrets/value (%v) and its task copied it to %s; job purged", c.varJobID, info.Mode().Perm(), rel)
	return nil
}
