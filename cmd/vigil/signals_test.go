package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
)

func startNATS(t *testing.T) (*signal.Embedded, *signal.Bus) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := signal.StartEmbedded(signal.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	bus, err := signal.Connect(context.Background(), signal.BusConfig{URLs: e.ClientURL(), Name: "publisher"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	return e, bus
}

// The tail prints block, match and stream events as they arrive, each a
// schema-valid CloudEvent on its own line.
func TestSignalsTail(t *testing.T) {
	e, bus := startNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.LogBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"signals", "tail", "--nats-url", e.ClientURL()}, nil, strings.NewReader(""), &out, io.Discard)
	}()
	now := time.Now().UTC()
	ref := signal.StreamRef{ID: "cam", Protocol: "rtmp", RemoteAddr: "127.0.0.1:1", Node: "n1", StartedAt: &now}
	publishAll := func() {
		block := signal.NewBlockEvent("test", signal.Block{Stream: signal.StreamRef{ID: "cam"}, Reason: signal.ReasonManual})
		if err := bus.PublishBlock(context.Background(), block); err != nil {
			t.Fatal(err)
		}
		match := signal.NewMatchEvent("test", signal.MatchData{Stream: ref, Matches: []signal.Match{{List: "l", ID: "1", Algorithm: "pdq", Distance: 3, StreamTime: 1, Hash: strings.Repeat("ab", 32), Quality: 90}}})
		started := signal.NewStreamEvent(signal.TypeStreamStarted, "test", signal.StreamData{Stream: ref})
		for subj, ev := range map[string]any{signal.MatchSubject("cam"): match, signal.SubjectStreamStarted: started} {
			raw, _ := json.Marshal(ev)
			if err := bus.Publish(context.Background(), subj, signal.NewEventID(), raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The tail subscribes asynchronously: publish fresh events (a repeated
	// id would be deduplicated) until it has printed each kind.
	deadline := time.Now().Add(10 * time.Second)
	for !(strings.Contains(out.String(), signal.TypeBlock) && strings.Contains(out.String(), signal.TypeMatch) && strings.Contains(out.String(), signal.TypeStreamStarted)) {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed %q", out.String())
		}
		publishAll()
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		typ, err := signal.ValidateEvent([]byte(line))
		if err != nil {
			t.Fatalf("printed event fails its schema: %v\n%s", err, line)
		}
		if typ == signal.TypeBlock {
			var got signal.Event
			if err := json.Unmarshal([]byte(line), &got); err != nil || got.Data.Stream.ID != "cam" || got.Data.Reason != "manual" {
				t.Fatalf("line %q: %v", line, err)
			}
		}
	}
}

// `vigil index publish` uploads a list that loads and refuses one that
// does not; `vigil jobs submit` queues a job and `vigil jobs ls` shows it
// with the nodes' heartbeats.
func TestIndexPublishAndJobs(t *testing.T) {
	e, bus := startNATS(t)
	url := e.ClientURL()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	_ = os.WriteFile(good, []byte(strings.Repeat("ab", 32)+",one\n"+strings.Repeat("cd", 32)+",two\n"), 0o600)
	bad := filepath.Join(dir, "bad.txt")
	_ = os.WriteFile(bad, []byte(strings.Repeat("ab", 32)+",one\nnot a hash\n"), 0o600)

	var out, errOut testenv.LogBuffer
	if err := run(context.Background(), []string{"index", "publish", "--nats-url", url, good}, nil, nil, &out, &errOut); err != nil {
		t.Fatalf("publish: %v: %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "2 entries") || !strings.Contains(out.String(), signal.CRC32C(mustRead(t, good))) {
		t.Fatalf("publish said %q", out.String())
	}
	obs, err := bus.JetStream().ObjectStore(context.Background(), signal.BucketIndex)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(context.Background(), signal.IndexObject)
	if err != nil || info.Metadata["crc32c"] != signal.CRC32C(mustRead(t, good)) || info.Metadata["source"] != "good.txt" {
		t.Fatalf("object %+v: %v", info, err)
	}
	if err := run(context.Background(), []string{"index", "publish", "--nats-url", url, bad}, nil, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not published") {
		t.Fatalf("a damaged list was published: %v", err)
	}
	if info2, _ := obs.GetInfo(context.Background(), signal.IndexObject); info2.NUID != info.NUID {
		t.Fatal("the fleet index changed after a refused publish")
	}

	// Jobs: the queue exists once a node has started; make it as one would.
	if _, err := bus.Jobs(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Nodes(context.Background()); err != nil {
		t.Fatal(err)
	}
	out = testenv.LogBuffer{}
	args := []string{"jobs", "submit", "--nats-url", url, "--url", "rtmp://origin.example/live/x", "--name", "remote.x", "--id", "job-7"}
	if err := run(context.Background(), args, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var res map[string]string
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil || res["job"] != "job-7" || res["stream"] != "remote%2Ex" {
		t.Fatalf("submit said %q: %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"jobs", "submit", "--nats-url", url, "--url", "gopher://x/y", "--name", "x"}, nil, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("a job with a refused scheme was submitted")
	}
	st, _ := bus.JetStream().Stream(context.Background(), signal.StreamJobs)
	sinfo, _ := st.Info(context.Background())
	if sinfo.State.Msgs != 1 {
		t.Fatalf("work queue holds %d jobs, want 1", sinfo.State.Msgs)
	}
	m, err := st.GetMsg(context.Background(), sinfo.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	if j, err := signal.ParseJob(m.Data); err != nil || j.URL != "rtmp://origin.example/live/x" || m.Header.Get(jetstream.MsgIDHeader) != "job-7" {
		t.Fatalf("queued job %s: %v", m.Data, err)
	}

	if err := bus.PutHeartbeat(context.Background(), signal.NodeStatus{Node: "node-1", At: time.Now(), Capacity: 4,
		Jobs: []signal.JobStatus{{ID: "job-3", Stream: "cam"}}}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out = testenv.LogBuffer{}
	if err := run(context.Background(), []string{"jobs", "ls", "--nats-url", url}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node-1", "1/4", "job-3", "jobs waiting for a node: 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("jobs ls does not say %q:\n%s", want, out.String())
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// `vigil blocklist ls` shows what block signals put in the bucket, and
// `vigil blocklist rm` lifts one entry, named by the key in clear, its hash
// or an address; lifting what is not there fails and says so.
func TestBlocklistLsRm(t *testing.T) {
	e, bus := startNATS(t)
	url := e.ClientURL()
	ctx := context.Background()
	if _, err := bus.Blocklist(ctx); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for _, be := range []signal.BlocklistEntry{
		{Kind: signal.BlockKindKey, Value: ingest.KeyHash("demo-key"), Event: "e1", Source: "vigil://node/a", Reason: "match", Stream: "demo", At: time.Now(), ExpiresAt: exp},
		{Kind: signal.BlockKindKey, Value: ingest.KeyHash("other-key"), Event: "e2", Source: "test", Reason: "manual", At: time.Now(), ExpiresAt: exp.Add(time.Hour)},
		{Kind: signal.BlockKindAddr, Value: "2001:db8::7", Event: "e3", Source: "test", Reason: "manual", At: time.Now(), ExpiresAt: exp.Add(2 * time.Hour)},
	} {
		if err := bus.PutBlocklist(ctx, be); err != nil {
			t.Fatal(err)
		}
	}
	ls := func() string {
		t.Helper()
		out, errOut, err := vigil(t, ctx, nil, "blocklist", "ls", "--nats-url", url)
		if err != nil {
			t.Fatalf("ls: %v: %s", err, errOut)
		}
		return out
	}
	out := ls()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "KIND") || !strings.Contains(lines[1], ingest.KeyHash("demo-key")) ||
		!strings.Contains(lines[1], "demo") || !strings.Contains(lines[3], "2001:db8::7") {
		t.Fatalf("ls printed\n%s", out)
	}
	if strings.Contains(out, "demo-key") {
		t.Fatalf("ls shows a key in clear:\n%s", out)
	}

	for _, args := range [][]string{
		{"--key", "demo-key"},
		{"--key-sha256", ingest.KeyHash("other-key")},
		{"--addr", "[2001:db8::7]:1935"},
	} {
		out, errOut, err := vigil(t, ctx, nil, append([]string{"blocklist", "rm", "--nats-url", url}, args...)...)
		if err != nil || !strings.Contains(out, "lifted") {
			t.Fatalf("rm %v: %v: %s%s", args, err, out, errOut)
		}
	}
	if out := ls(); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("after rm, ls printed\n%s", out)
	}
	_, _, err := vigil(t, ctx, nil, "blocklist", "rm", "--nats-url", url, "--key", "demo-key")
	if !errors.Is(err, signal.ErrNotBlocked) {
		t.Fatalf("rm of a lifted block: %v", err)
	}
	for _, args := range [][]string{
		{"rm"}, {"rm", "--key", "a", "--addr", "192.0.2.1"}, {"rm", "--addr", "not-an-ip"},
		{"rm", "--key-sha256", "ABC"}, {"ls", "--key", "x"}, {"unblock"},
	} {
		_, _, err := vigil(t, ctx, nil, append([]string{"blocklist"}, args...)...)
		if !errors.Is(err, errUsage) {
			t.Errorf("blocklist %v: %v, want a usage error", args, err)
		}
	}
}
