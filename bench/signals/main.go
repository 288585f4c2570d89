// Command signals measures the NATS side of a Vigil fleet:
//
//   - block signals one node publishes per second with JetStream
//     acknowledgements: directly (Bus.PublishBlock, one at a time) and
//     through the outbox every signal takes in the node (an fsync'd write,
//     an ordered publish, the acknowledgement), on one embedded server and
//     on a 3-server cluster with 3 replicas;
//   - the time from `vigil index publish` until every node serves the new
//     index, for a small list and a compiled index of a million PDQ hashes;
//   - the time from the death (SIGKILL) of the node holding a join job to
//     another node running it.
//
// Goals (issue 7): no signal lost; a job taken over within 30 s.
//
//	go build -o bin/vigil ./cmd/vigil && go run ./bench/signals -runs 5
//
// The NATS servers run in this process; the nodes are `vigil serve`
// processes, so that a node's death is a real one.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilstream/vigil/internal/signal"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func main() {
	runs := flag.Int("runs", 5, "runs of each measurement; the median is reported")
	n := flag.Int("signals", 2000, "signals per publish-rate run")
	vigil := flag.String("vigil", "bin/vigil", "the vigil binary")
	dir := flag.String("dir", "bench/out/signals", "where generated inputs are kept")
	only := flag.String("only", "rate,index,takeover", "which measurements to run")
	flag.Parse()
	if err := run(*runs, *n, *vigil, *dir, strings.Split(*only, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "signals:", err)
		os.Exit(1)
	}
}

func run(runs, n int, vigil, dir string, only []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	vigil, err := filepath.Abs(vigil)
	if err != nil {
		return err
	}
	if slices.Contains(only, "rate") {
		if err := publishRates(runs, n); err != nil {
			return err
		}
	}
	if slices.Contains(only, "index") {
		if err := indexPropagation(runs, vigil, dir); err != nil {
			return err
		}
	}
	if slices.Contains(only, "takeover") {
		if err := takeover(runs, vigil, dir); err != nil {
			return err
		}
	}
	return nil
}

// ---- publish rate ----

func publishRates(runs, n int) error {
	fmt.Println("## Block signals published with acknowledgements, one node")
	fmt.Println()
	fmt.Println("| NATS | direct, one at a time | through the outbox, 1 producer | through the outbox, 8 producers |")
	fmt.Println("|---|---|---|---|")
	for _, setup := range []struct {
		name     string
		servers  int
		replicas int
	}{{"embedded server, file storage", 1, 1}, {"3-server cluster, 3 replicas", 3, 3}} {
		urls, stop, err := startServers(setup.servers)
		if err != nil {
			return err
		}
		bus, err := signal.Connect(context.Background(), signal.BusConfig{URLs: strings.Join(urls, ","), Name: "bench", Replicas: setup.replicas, PublishTimeout: 10 * time.Second}, quiet)
		if err != nil {
			stop()
			return err
		}
		var direct, ob1, ob8 []float64
		for range runs {
			r, err := rateDirect(bus, n)
			if err != nil {
				return err
			}
			direct = append(direct, r)
			if r, err = rateOutbox(bus, n, 1); err != nil {
				return err
			}
			ob1 = append(ob1, r)
			if r, err = rateOutbox(bus, n, 8); err != nil {
				return err
			}
			ob8 = append(ob8, r)
		}
		fmt.Printf("| %s | %.0f/s | %.0f/s | %.0f/s |\n", setup.name, median(direct), median(ob1), median(ob8))
		bus.Close()
		stop()
	}
	fmt.Println()
	return nil
}

func sampleEvent(i int) signal.Event {
	now := time.Now().UTC()
	return signal.NewBlockEvent("vigil://node/bench", signal.Block{
		Stream: signal.StreamRef{ID: fmt.Sprintf("s%d", i%100), Name: "s", Session: "0123456789abcdef", Protocol: "rtmp", RemoteAddr: "10.0.0.1:5000", Node: "bench", StartedAt: &now},
		Reason: signal.ReasonMatch, DecidedAt: &now,
		Matches: []signal.Match{{List: "list", ID: "1", Label: "x", Algorithm: "pdq", Distance: 7, StreamTime: 12.3, Hash: strings.Repeat("ab", 32), Quality: 90},
			{List: "list", ID: "1", Label: "x", Algorithm: "pdq", Distance: 9, StreamTime: 14.3, Hash: strings.Repeat("cd", 32), Quality: 90}},
		Policy: &signal.Policy{Name: "min-matches-in-window", MinMatches: 2, WindowSeconds: 10, MinQuality: 50},
	})
}

func rateDirect(bus *signal.Bus, n int) (float64, error) {
	start := time.Now()
	for i := range n {
		if err := bus.PublishBlock(context.Background(), sampleEvent(i)); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func rateOutbox(bus *signal.Bus, n, producers int) (float64, error) {
	dir, err := os.MkdirTemp("", "vigil-outbox-bench")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ob, err := signal.OpenOutbox(signal.OutboxConfig{Path: filepath.Join(dir, "outbox.db"), MaxSignals: n + 1}, quiet)
	if err != nil {
		return 0, err
	}
	defer ob.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ob.Run(ctx, bus) }()
	defer func() { cancel(); <-done }()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Go(func() {
			for i := p; i < n; i += producers {
				seq, err := ob.Add(sampleEvent(i))
				if err == nil {
					wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
					err = ob.Wait(wctx, seq)
					wcancel()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// ---- NATS servers ----

// startServers starts n embedded servers; with n > 1 they form a cluster
// whose route ports are picked first, as clustered JetStream wants.
func startServers(n int) ([]string, func(), error) {
	var listens, routes []string
	if n > 1 {
		for range n {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, nil, err
			}
			listens = append(listens, ln.Addr().String())
			routes = append(routes, "nats-route://"+ln.Addr().String())
			ln.Close()
		}
	}
	var (
		mu       sync.Mutex
		servers  []*signal.Embedded
		urls     = make([]string, n)
		dirs     []string
		wg       sync.WaitGroup
		firstErr error
	)
	for i := range n {
		d, err := os.MkdirTemp("", "vigil-nats-bench")
		if err != nil {
			return nil, nil, err
		}
		dirs = append(dirs, d)
		cfg := signal.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: d, ServerName: fmt.Sprintf("bench-%d", i+1), ReadyTimeout: 30 * time.Second}
		if n > 1 {
			cfg.ClusterName, cfg.ClusterListen, cfg.Routes = "bench", listens[i], routes
		}
		wg.Go(func() {
			e, err := signal.StartEmbedded(cfg, quiet)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			servers = append(servers, e)
			urls[i] = e.ClientURL()
		})
	}
	wg.Wait()
	stop := func() {
		for _, s := range servers {
			s.Close()
		}
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	if firstErr != nil {
		stop()
		return nil, nil, firstErr
	}
	// Wait for a JetStream leader.
	bus, err := signal.Connect(context.Background(), signal.BusConfig{URLs: strings.Join(urls, ","), Name: "probe", NoSetup: true}, quiet)
	if err != nil {
		stop()
		return nil, nil, err
	}
	defer bus.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := bus.JetStream().AccountInfo(ctx)
		cancel()
		if err == nil {
			return urls, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("JetStream not ready: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---- node processes ----

type nodeProc struct {
	id   string
	cmd  *exec.Cmd
	http string
	dir  string
	done chan struct{}
}

var servingRe = regexp.MustCompile(`msg="node serving".* http=(\S+)`)

func startNode(vigil, id, urls string, extra ...string) (*nodeProc, error) {
	dir, err := os.MkdirTemp("", "vigil-node-bench")
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--node-id", id, "--nats-url", urls, "--nats-replicas", "3", "--data-dir", dir,
		"--rtmp-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-token", "bench", "--heartbeat-interval", "1s"}, extra...)
	cmd := exec.Command(vigil, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &nodeProc{id: id, cmd: cmd, dir: dir, done: make(chan struct{})}
	addr := make(chan string, 1)
	logFile, err := os.Create(filepath.Join(os.TempDir(), "vigil-bench-"+id+".log"))
	if err != nil {
		return nil, err
	}
	go func() {
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logFile, sc.Text())
			if m := servingRe.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	select {
	case p.http = <-addr:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("node %s exited at start", id)
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("node %s not serving within 30 s", id)
	}
}

func (p *nodeProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	os.RemoveAll(p.dir)
}

func (p *nodeProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	os.RemoveAll(p.dir)
}

func (p *nodeProc) get(path string, v any) error {
	req, _ := http.NewRequest("GET", "http://"+p.http+path, nil)
	req.Header.Set("Authorization", "Bearer bench")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (p *nodeProc) indexVersion() string {
	var info struct {
		Version string `json:"version"`
	}
	_ = p.get("/api/index", &info)
	return info.Version
}

func (p *nodeProc) hosts(stream string) bool {
	var res struct {
		Streams []struct {
			ID string `json:"id"`
		} `json:"streams"`
	}
	if p.get("/api/streams", &res) != nil {
		return false
	}
	for _, s := range res.Streams {
		if s.ID == stream {
			return true
		}
	}
	return false
}

// ---- index propagation ----

func indexPropagation(runs int, vigil, dir string) error {
	urls, stop, err := startServers(3)
	if err != nil {
		return err
	}
	defer stop()
	all := strings.Join(urls, ",")
	var nodes []*nodeProc
	defer func() {
		for _, p := range nodes {
			p.stop()
		}
	}()
	for i := range 3 {
		p, err := startNode(vigil, fmt.Sprintf("node-%d", i+1), all, "--jobs-capacity", "0")
		if err != nil {
			return err
		}
		nodes = append(nodes, p)
	}
	type variant struct {
		name  string
		files [2]string
	}
	small, err := lists(dir, "small", 1)
	if err != nil {
		return err
	}
	large, err := compiled(vigil, dir, "1m", 1_000_000)
	if err != nil {
		return err
	}
	fmt.Println("## From `vigil index publish` to every node serving the index (3-server cluster, 3 nodes)")
	fmt.Println()
	fmt.Println("| index | size | median | min | max |")
	fmt.Println("|---|---|---|---|---|")
	for _, v := range []variant{{"hash list, 1 PDQ hash", small}, {"compiled index, 1,000,000 PDQ hashes", large}} {
		var times []float64
		for r := range runs {
			file := v.files[r%2]
			want := crc(file)
			start := time.Now()
			out, err := exec.Command(vigil, "index", "publish", "--nats-url", all, file).CombinedOutput()
			if err != nil {
				return fmt.Errorf("index publish: %v: %s", err, out)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for _, p := range nodes {
				for p.indexVersion() != want {
					if time.Now().After(deadline) {
						return fmt.Errorf("%s does not serve index %s", p.id, want)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			times = append(times, time.Since(start).Seconds())
		}
		fi, _ := os.Stat(v.files[0])
		fmt.Printf("| %s | %s | %s | %s | %s |\n", v.name, size(fi.Size()), secs(median(times)), secs(slices.Min(times)), secs(slices.Max(times)))
	}
	fmt.Println()
	return nil
}

// lists writes two hash lists of n random PDQ hashes that differ in one.
func lists(dir, name string, n int) ([2]string, error) {
	var out [2]string
	var b strings.Builder
	for range n {
		b.WriteString(randomHash() + ",bench\n")
	}
	for i := range 2 {
		out[i] = filepath.Join(dir, fmt.Sprintf("%s-%d.txt", name, i))
		if err := os.WriteFile(out[i], []byte(b.String()+randomHash()+",variant\n"), 0o644); err != nil {
			return out, err
		}
	}
	return out, nil
}

// compiled builds two compiled indexes of n random PDQ hashes (kept between
// runs) that differ in one.
func compiled(vigil, dir, name string, n int) ([2]string, error) {
	var out [2]string
	var src [2]string
	for i := range 2 {
		out[i] = filepath.Join(dir, fmt.Sprintf("%s-%d.vidx", name, i))
		if _, err := os.Stat(out[i]); err == nil {
			continue
		}
		if src[0] == "" {
			var err error
			if src, err = lists(dir, name, n); err != nil {
				return out, err
			}
		}
		if o, err := exec.Command(vigil, "index", "build", "-o", out[i], src[i]).CombinedOutput(); err != nil {
			return out, fmt.Errorf("index build: %v: %s", err, o)
		}
	}
	for _, s := range src {
		if s != "" {
			os.Remove(s)
		}
	}
	return out, nil
}

func randomHash() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func crc(path string) string {
	data, _ := os.ReadFile(path)
	return signal.CRC32C(data)
}

// ---- job takeover ----

func takeover(runs int, vigil, dir string) error {
	urls, stop, err := startServers(3)
	if err != nil {
		return err
	}
	defer stop()
	all := strings.Join(urls, ",")
	video := filepath.Join(dir, "job.mkv")
	if _, err := os.Stat(video); err != nil {
		o, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=600",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", video).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ffmpeg: %v: %s", err, o)
		}
	}
	video, _ = filepath.Abs(video)
	nodeArgs := []string{"--jobs-capacity", "4", "--pull-allow-files"}
	nodes := map[string]*nodeProc{}
	defer func() {
		for _, p := range nodes {
			p.stop()
		}
	}()
	for _, id := range []string{"node-a", "node-b"} {
		p, err := startNode(vigil, id, all, nodeArgs...)
		if err != nil {
			return err
		}
		nodes[id] = p
	}
	ops, err := signal.Connect(context.Background(), signal.BusConfig{URLs: all, Name: "bench", NoSetup: true}, quiet)
	if err != nil {
		return err
	}
	defer ops.Close()
	var times []float64
	for r := range runs {
		stream := fmt.Sprintf("job%d", r)
		out, err := exec.Command(vigil, "jobs", "submit", "--nats-url", all, "--url", "file://"+video, "--name", stream).CombinedOutput()
		if err != nil {
			return fmt.Errorf("jobs submit: %v: %s", err, out)
		}
		var holder, other *nodeProc
		deadline := time.Now().Add(30 * time.Second)
		for holder == nil {
			for _, p := range nodes {
				if p.hosts(stream) {
					holder = p
				}
			}
			if time.Now().After(deadline) {
				return errors.New("job not claimed within 30 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, p := range nodes {
			if p != holder {
				other = p
			}
		}
		// Let the holder report progress at least once, then die at a
		// random point of its progress interval: the takeover takes the
		// ack wait less the time since the last report.
		time.Sleep(3*time.Second + time.Duration(mrand.Int64N(int64(signal.JobsProgressEvery))))
		died := time.Now()
		holder.kill()
		for !other.hosts(stream) {
			if time.Since(died) > 60*time.Second {
				return errors.New("no takeover within 60 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(died).Seconds()
		times = append(times, took)
		fmt.Fprintf(os.Stderr, "run %d: %s died, %s took %s over in %.2f s\n", r+1, holder.id, other.id, stream, took)
		// Block the stream: its job is done and frees its slot.
		ev := signal.NewBlockEvent("bench://ops", signal.Block{Stream: signal.StreamRef{ID: stream}, Reason: signal.ReasonManual})
		if err := ops.PublishBlock(context.Background(), ev); err != nil {
			return err
		}
		for other.hosts(stream) {
			time.Sleep(20 * time.Millisecond)
		}
		// The dead node comes back for the next run.
		p, err := startNode(vigil, holder.id, all, nodeArgs...)
		if err != nil {
			return err
		}
		nodes[holder.id] = p
	}
	fmt.Println("## From the death (SIGKILL) of the node holding a job to another node running it (3-server cluster, 2 nodes)")
	fmt.Println()
	fmt.Println("| runs | median | min | max | ack wait |")
	fmt.Println("|---|---|---|---|---|")
	fmt.Printf("| %d | %s | %s | %s | %s |\n", runs, secs(median(times)), secs(slices.Min(times)), secs(slices.Max(times)), signal.JobsAckWait)
	fmt.Println()
	return nil
}

// ---- helpers ----

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.0f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
