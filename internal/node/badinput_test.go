package node

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/internal/testenv/natstest"
)

// asRole connects as a user of the example configuration and records the
// errors the server sends it.
func asRole(t *testing.T, url, user string) (*nats.Conn, func() string) {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	nc, err := nats.Connect(url, nats.UserInfo(user, user), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}))
	if err != nil {
		t.Fatalf("%s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc, func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(errs, "; ")
	}
}

// Bad input on vigil.block.> costs nothing. The node runs against a
// server with the example configuration, as the node user: malformed
// signals are ignored, logged and counted; a signal for a stream it does
// not host is a no-op; a block from a publisher without permission is
// refused by the server and never reaches the node; a trusted service's
// block still ends the stream.
func TestBadSignalInput(t *testing.T) {
	url := natstest.ExampleNATS(t, filepath.Join("..", "signal", "examples"))
	h := runNode(t, nodeOpts{natsURL: url, user: "node", pass: "node"})
	p := testenv.Publish(t, h.rtmpURL("benign"), testenv.PublishOptions{Duration: 60 * time.Second})
	st := h.waitStream("benign", 10*time.Second)
	enforcer, _ := asRole(t, url, "enforcer")
	reviewer, reviewerErrs := asRole(t, url, "reviewer")

	t.Run("malformed", func(t *testing.T) {
		for _, bad := range []string{"{not json", `{"specversion":"1.0"}`, `[]`, strings.Repeat("x", 2000)} {
			if err := enforcer.Publish(signal.BlockSubject("benign"), []byte(bad)); err != nil {
				t.Fatal(err)
			}
		}
		waitUntil(t, "invalid signals counted", 5*time.Second, func() bool {
			return h.metric(`vigil_signals_received_total{result="invalid"}`) == 4
		})
		if !h.log.WaitFor("ignoring invalid signal", time.Second) {
			t.Error("no log line for the invalid signals")
		}
	})
	t.Run("unknown stream", func(t *testing.T) {
		ev := signal.NewBlockEvent("test://enforcer", signal.Block{Stream: signal.StreamRef{ID: "nosuch"}, Reason: signal.ReasonManual})
		raw, _ := json.Marshal(ev)
		if err := enforcer.Publish(signal.BlockSubject("nosuch"), raw); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "signal ignored", 5*time.Second, func() bool {
			return h.metric(`vigil_signals_received_total{result="ignored"}`) == 1
		})
	})
	t.Run("publisher without permission", func(t *testing.T) {
		ev := signal.NewBlockEvent("test://reviewer", signal.Block{Stream: signal.StreamRef{ID: "benign"}, Reason: signal.ReasonManual})
		raw, _ := json.Marshal(ev)
		if err := reviewer.Publish(signal.BlockSubject("benign"), raw); err != nil {
			t.Fatal(err)
		}
		_ = reviewer.Flush()
		waitUntil(t, "server refuses the reviewer", 5*time.Second, func() bool {
			return strings.Contains(reviewerErrs(), `Permissions Violation for Publish to "vigil.block.benign"`)
		})
		// The trusted enforcer's next signal overtakes nothing: if the
		// reviewer's had gone through, it would be counted before it.
		probe := signal.NewBlockEvent("test://enforcer", signal.Block{Stream: signal.StreamRef{ID: "probe"}, Reason: signal.ReasonManual})
		raw, _ = json.Marshal(probe)
		if err := enforcer.Publish(signal.BlockSubject("probe"), raw); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "probe seen", 5*time.Second, func() bool {
			return h.metric(`vigil_signals_received_total{result="ignored"}`) == 2
		})
		if got := h.metric(`vigil_signals_received_total{result="applied"}`); got != -1 && got != 0 {
			t.Fatalf("a signal was applied: %v", got)
		}
	})
	if st.Context().Err() != nil || !p.Running() {
		t.Fatal("the stream ended on bad input")
	}

	// A trusted service's block goes through.
	ev := signal.NewBlockEvent("test://enforcer", signal.Block{Stream: signal.StreamRef{ID: "benign"}, Reason: signal.ReasonManual})
	raw, _ := json.Marshal(ev)
	if err := enforcer.Publish(signal.BlockSubject("benign"), raw); err != nil {
		t.Fatal(err)
	}
	if !p.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("trusted block did not end the stream")
	}
	if h.log.WaitFor("Permissions Violation", 0) {
		t.Error("the node itself hit a permission violation under the example configuration")
	}
}
