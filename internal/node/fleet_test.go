package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
)

// startCluster starts n embedded NATS servers routed into one cluster with
// JetStream, and returns their client URLs once JetStream has a leader.
// Clustered JetStream wants every server to know its routes from the
// start, so the route ports are picked first.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var listens, routes []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listens = append(listens, ln.Addr().String())
		routes = append(routes, "nats-route://"+ln.Addr().String())
		ln.Close()
	}
	urls := make([]string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			e, err := signal.StartEmbedded(signal.EmbeddedConfig{
				Listen: "127.0.0.1:0", StoreDir: t.TempDir(), ServerName: fmt.Sprintf("nats-%d", i+1),
				ClusterName: "vigil-test", ClusterListen: listens[i], Routes: routes, ReadyTimeout: 20 * time.Second,
			}, quiet)
			if err == nil {
				t.Cleanup(e.Close)
				urls[i] = e.ClientURL()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	bus, err := signal.Connect(context.Background(), signal.BusConfig{URLs: strings.Join(urls, ","), Name: "probe", NoSetup: true}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	waitUntil(t, "JetStream cluster ready", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := bus.JetStream().AccountInfo(ctx)
		return err == nil
	})
	return urls
}

// The fleet test: three NATS servers in a cluster and two nodes. An
// index published once reaches both; both publish their heartbeat and
// capacity; a join job is claimed by exactly one node, and when that node
// dies the other takes the job over within 30 s.
func TestFleetOnCluster(t *testing.T) {
	urls := strings.Join(startCluster(t, 3), ",")
	fleetArgs := []string{"--nats-replicas", "3", "--jobs-capacity", "2", "--pull-allow-files", "--heartbeat-interval", "1s"}
	a := runNode(t, nodeOpts{id: "node-a", natsURL: urls, args: fleetArgs})
	b := runNode(t, nodeOpts{id: "node-b", natsURL: urls, args: fleetArgs})

	ops, err := signal.Connect(context.Background(), signal.BusConfig{URLs: urls, Name: "operator", NoSetup: true, Replicas: 3}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()

	// An index published once reaches both nodes.
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(34, 640, 360))
	list := knownList(t, img)
	published := time.Now()
	meta, err := ops.PublishIndex(context.Background(), list, 1, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*harness{a, b} {
		waitUntil(t, h.node.cfg.NodeID+" serves the published index", 10*time.Second, func() bool {
			return h.node.indexInfo().Version == meta.Version
		})
		if info := h.node.indexInfo(); info.Entries != 1 || !strings.Contains(info.Source, "known.txt") {
			t.Errorf("%s index %+v", h.node.cfg.NodeID, info)
		}
	}
	t.Logf("index published once, served by both nodes %s later", time.Since(published).Round(time.Millisecond))
	// A node that starts later gets it too.
	late := runNode(t, nodeOpts{id: "node-late", natsURL: urls, args: []string{"--nats-replicas", "3", "--jobs-capacity", "0"}})
	waitUntil(t, "a later node serves the published index", 10*time.Second, func() bool {
		return late.node.indexInfo().Version == meta.Version
	})
	late.stop()

	// Heartbeats and capacity.
	kv, err := ops.JetStream().KeyValue(context.Background(), signal.BucketNodes)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both heartbeats", 10*time.Second, func() bool {
		nodes, _ := signal.ListNodes(context.Background(), kv)
		return len(nodes) == 2 && nodes[0].Capacity == 2 && nodes[1].Capacity == 2 && nodes[0].IndexVersion == meta.Version
	})

	// A job is claimed by exactly one node.
	video := filepath.Join(t.TempDir(), "remote.mkv")
	testenv.RunFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=120",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", video)
	job := signal.Job{ID: "job-1", URL: "file://" + video, Name: "fleet-job", Protocol: "pull", SubmittedAt: time.Now().UTC(), SubmittedBy: "test"}
	if err := ops.SubmitJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	// The same job again is deduplicated.
	if err := ops.SubmitJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	var holder, other *harness
	waitUntil(t, "job claimed", 15*time.Second, func() bool {
		for _, pair := range [][2]*harness{{a, b}, {b, a}} {
			if pair[0].node.Registry().Get("fleet-job") != nil {
				holder, other = pair[0], pair[1]
				return true
			}
		}
		return false
	})
	t.Logf("job claimed by %s", holder.node.cfg.NodeID)
	waitUntil(t, "holder's heartbeat names the job", 5*time.Second, func() bool {
		e, err := kv.Get(context.Background(), signal.NodeKey(holder.node.cfg.NodeID))
		return err == nil && strings.Contains(string(e.Value()), `"id":"job-1"`)
	})
	if other.node.Registry().Get("fleet-job") != nil {
		t.Fatal("both nodes run the job")
	}
	js := ops.JetStream()
	cons, err := js.Consumer(context.Background(), signal.StreamJobs, signal.JobsConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := cons.Info(context.Background()); info.NumAckPending != 1 || info.NumPending != 0 {
		t.Fatalf("job consumer: %d pending acks, %d waiting; want 1 and 0 (one job, held once)", info.NumAckPending, info.NumPending)
	}
	// Held past an ack wait: the holder reports progress, nobody else gets it.
	time.Sleep(signal.JobsAckWait + 2*time.Second) // a duration the test must outlast, not an event
	if other.node.Registry().Get("fleet-job") != nil || holder.node.Registry().Get("fleet-job") == nil {
		t.Fatal("job moved while its holder was alive")
	}

	// The holder dies; the other node takes the job over.
	died := time.Now()
	holder.crash()
	waitUntil(t, "takeover", 30*time.Second, func() bool { return other.node.Registry().Get("fleet-job") != nil })
	took := time.Since(died)
	t.Logf("%s took the job over %s after %s died", other.node.cfg.NodeID, took.Round(time.Millisecond), holder.node.cfg.NodeID)
	if took > 30*time.Second {
		t.Errorf("takeover took %s, want within 30 s", took)
	}
	if info, _ := cons.Info(context.Background()); info.NumAckPending != 1 {
		t.Errorf("after takeover: %d pending acks, want 1", info.NumAckPending)
	}
	// A block of the joined stream ends the job for good.
	ev := signal.NewBlockEvent("test://moderator", signal.Block{Stream: signal.StreamRef{ID: "fleet-job"}, Reason: signal.ReasonManual})
	if err := ops.PublishBlock(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "blocked job acknowledged", 10*time.Second, func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	// The work queue drops an acknowledged job; on a cluster the replicas
	// apply the ack a moment after the consumer counts it.
	var held uint64
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := js.Stream(context.Background(), signal.StreamJobs)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(context.Background())
		if err == nil {
			if held = info.State.Msgs; held == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("work queue holds %d jobs 5 s after the block, want 0", held)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
