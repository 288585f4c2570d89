package signal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vigilstream/vigil/internal/testenv/natstest"
)

// role connects as one of the example configuration's users and records
// the permission violations the server reports to it.
type role struct {
	bus        *Bus
	mu         sync.Mutex
	violations []string
}

func connectAs(t *testing.T, url, user string, setup bool) *role {
	t.Helper()
	r := &role{}
	b, err := Connect(context.Background(), BusConfig{URLs: url, Name: user, NoSetup: !setup, PublishTimeout: time.Second,
		Auth: Auth{User: user, Password: user}}, discard())
	if err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	b.Conn().SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		r.mu.Lock()
		r.violations = append(r.violations, err.Error())
		r.mu.Unlock()
	})
	t.Cleanup(b.Close)
	r.bus = b
	return r
}

func (r *role) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.violations, "; ")
}

func (r *role) violated(subject string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.violations {
		if strings.Contains(v, "Permissions Violation") && strings.Contains(v, subject) {
			return true
		}
	}
	return false
}

// The example configuration gives each role what it needs and no more:
// a node sets up and uses everything Vigil needs, an enforcer may block,
// an operator publishes indexes and jobs, and a reviewer who tries to
// publish a block is refused by the server.
func TestExampleServerConfig(t *testing.T) {
	url := natstest.ExampleNATS(t, "examples")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	node := connectAs(t, url, "node", true)
	got := make(chan Event, 8)
	if err := node.bus.SubscribeBlocks(ctx, false, func(ev Event) { got <- ev }); err != nil {
		t.Fatalf("node subscribe: %v", err)
	}
	if err := node.bus.PublishBlock(ctx, blockFor("cam")); err != nil {
		t.Fatalf("node publish block: %v", err)
	}
	raw, _ := json.Marshal(NewStreamEvent(TypeStreamStarted, "n", StreamData{Stream: StreamRef{ID: "cam"}}))
	if err := node.bus.Publish(ctx, SubjectStreamStarted, NewEventID(), raw); err != nil {
		t.Fatalf("node publish stream event: %v", err)
	}
	bl, err := node.bus.Blocklist(ctx)
	if err != nil {
		t.Fatalf("node blocklist: %v", err)
	}
	entry := BlocklistEntry{Kind: BlockKindKey, Value: strings.Repeat("ab", 32), Event: "e1", Source: "t", Reason: ReasonManual, At: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if err := node.bus.PutBlocklist(ctx, entry); err != nil {
		t.Fatalf("node blocklist put: %v", err)
	}
	w, err := bl.WatchAll(ctx)
	if err != nil {
		t.Fatalf("node blocklist watch: %v", err)
	}
	if e := <-w.Updates(); e == nil || e.Key() != BlocklistKey(BlockKindKey, entry.Value) {
		t.Fatalf("node blocklist watch: %v", e)
	}
	_ = w.Stop()
	if _, err := node.bus.Nodes(ctx); err != nil {
		t.Fatalf("node heartbeat bucket: %v", err)
	}
	if err := node.bus.PutHeartbeat(ctx, NodeStatus{Node: "n1", At: time.Now()}, 15*time.Second); err != nil {
		t.Fatalf("node heartbeat: %v", err)
	}
	jobs, err := node.bus.Jobs(ctx)
	if err != nil {
		t.Fatalf("node jobs: %v", err)
	}
	if _, err := node.bus.IndexStore(ctx); err != nil {
		t.Fatalf("node index store: %v", err)
	}

	operator := connectAs(t, url, "operator", false)
	list := filepath.Join(t.TempDir(), "list.txt")
	_ = os.WriteFile(list, []byte(strings.Repeat("ab", 32)+",x\n"), 0o600)
	meta, err := operator.bus.PublishIndex(ctx, list, 1, "test")
	if err != nil {
		t.Fatalf("operator publish index: %v", err)
	}
	if err := operator.bus.SubmitJob(ctx, Job{ID: "j1", URL: "rtmp://origin/live/x", Name: "x", Protocol: "pull", SubmittedAt: time.Now().UTC()}); err != nil {
		t.Fatalf("operator submit job: %v", err)
	}
	// The node reads both.
	m, err := jobs.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("node claim job: %v", err)
	}
	if err := m.InProgress(); err != nil {
		t.Fatalf("node job progress: %v", err)
	}
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatalf("node job ack: %v", err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	updates := make(chan IndexUpdate, 1)
	go func() {
		_ = node.bus.WatchIndex(wctx, nil, func(u IndexUpdate) { updates <- u },
			func(_ IndexMeta, err error) { t.Errorf("index refused: %v", err) })
	}()
	select {
	case u := <-updates:
		if u.Meta.Version != meta.Version || len(u.Data) == 0 {
			t.Fatalf("node read index %+v", u.Meta)
		}
	case <-ctx.Done():
		t.Fatal("node did not read the published index")
	}
	wcancel()

	enforcer := connectAs(t, url, "enforcer", false)
	manual := NewBlockEvent("test://moderator", Block{Target: &Target{KeySHA256: strings.Repeat("cd", 32)}, Reason: ReasonManual})
	if err := enforcer.bus.PublishBlock(ctx, manual); err != nil {
		t.Fatalf("enforcer publish block: %v", err)
	}

	// Blocks published so far reach the node; then the reviewer, who may
	// read everything, is refused when it tries to end a stream.
	for range 2 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("node did not receive the blocks")
		}
	}
	reviewer := connectAs(t, url, "reviewer", false)
	seen := make(chan Event, 4)
	if err := reviewer.bus.SubscribeBlocks(ctx, true, func(ev Event) { seen <- ev }); err != nil {
		t.Fatalf("reviewer tail: %v", err)
	}
	if err := reviewer.bus.SubscribeEvents(ctx, true, func(string, []byte) {}); err != nil {
		t.Fatalf("reviewer tail events: %v", err)
	}
	<-seen
	for _, r := range []*role{reviewer, operator} {
		rogue := blockFor("cam")
		err := r.bus.PublishBlock(ctx, rogue)
		if err == nil {
			t.Fatal("unprivileged block published")
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, nats.ErrTimeout) {
			t.Logf("refusal: %v", err)
		}
		waitFor(t, "permission violation reported", 5*time.Second, func() bool { return r.violated("vigil.block.cam") })
		select {
		case ev := <-got:
			t.Fatalf("node received a block from an unprivileged publisher: %s", ev.ID)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for name, r := range map[string]*role{"node": node, "enforcer": enforcer} {
		if v := r.String(); v != "" {
			t.Errorf("%s hit permission violations: %s", name, v)
		}
	}
	st, _ := node.bus.JetStream().Stream(ctx, StreamBlocks)
	info, _ := st.Info(ctx)
	if info.State.Msgs != 2 {
		t.Fatalf("VIGIL_BLOCKS holds %d signals, want 2 (node's and enforcer's)", info.State.Msgs)
	}
}
