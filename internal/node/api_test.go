package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/signal"
	"github.com/vigilstream/vigil/internal/testenv"
)

const adminToken = "test-admin-token"

// api calls the admin API with the given token ("" for none).
func (h *harness) api(method, path, token string, body io.Reader) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, "http://"+h.node.HTTPAddr().String()+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// metric returns the value of one sample of the node's /metrics, or -1.
func (h *harness) metric(name string) float64 {
	h.t.Helper()
	resp, err := http.Get("http://" + h.node.HTTPAddr().String() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(line[len(name):]), 64)
			return v
		}
	}
	return -1
}

func TestAdminAPIAuth(t *testing.T) {
	off := startNode(t, "")
	if code, _ := off.api("GET", "/api/streams", "anything", nil); code != http.StatusForbidden {
		t.Errorf("no admin token configured: %d, want 403", code)
	}
	h := startNode(t, "", "--admin-token", adminToken)
	for _, tok := range []string{"", "wrong", adminToken + "x"} {
		if code, _ := h.api("GET", "/api/streams", tok, nil); code != http.StatusUnauthorized {
			t.Errorf("token %q: %d, want 401", tok, code)
		}
		if code, _ := h.api("POST", "/api/streams/x/block", tok, nil); code != http.StatusUnauthorized {
			t.Errorf("block with token %q: %d, want 401", tok, code)
		}
	}
	if code, body := h.api("GET", "/api/streams", adminToken, nil); code != http.StatusOK || body["node"] != "test-node" {
		t.Errorf("right token: %d %v", code, body)
	}
	if code, _ := h.api("GET", "/api/nope", adminToken, nil); code != http.StatusNotFound {
		t.Errorf("unknown route: %d", code)
	}
	// The status page is behind the same token.
	resp, err := http.Get("http://" + h.node.HTTPAddr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status page without token: %d", resp.StatusCode)
	}
}

// The OpenAPI document in the repository lists exactly the routes served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range apiRoutes {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("OpenAPI document and routes differ:\ndocumented %v\nserved     %v", documented, served)
	}
	h := startNode(t, "", "--admin-token", adminToken)
	code, got := h.api("GET", "/api/openapi.json", adminToken, nil)
	if code != http.StatusOK || got["openapi"] != "3.1.0" {
		t.Fatalf("served document: %d %v", code, got["openapi"])
	}
}

// A manual block through the API goes out as a signal and ends the stream;
// the stream's details and the metrics show it while it runs.
func TestAdminAPIStreamsAndManualBlock(t *testing.T) {
	h := startNode(t, "", "--admin-token", adminToken)
	blocks := h.blocks()
	p := testenv.Publish(t, h.rtmpURL("cam.7"), testenv.PublishOptions{})
	id, _ := ingest.StreamID("cam.7")
	st := h.waitStream(id, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats.Sampled.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}

	code, list := h.api("GET", "/api/streams", adminToken, nil)
	streams, _ := list["streams"].([]any)
	if code != http.StatusOK || len(streams) != 1 {
		t.Fatalf("list: %d %v", code, list)
	}
	code, one := h.api("GET", "/api/streams/"+url.PathEscape(id), adminToken, nil)
	if code != http.StatusOK || one["name"] != "cam.7" || one["protocol"] != "rtmp" || one["codec"] != "h264" ||
		one["width"] != 640.0 || one["height"] != 360.0 || one["policy"] != "adaptive" || one["samples"].(float64) < 2 || one["last_sample_at"] == nil {
		t.Fatalf("stream: %d %v", code, one)
	}
	if fps := one["fps"].(float64); fps < 15 || fps > 45 {
		t.Errorf("fps %.1f for a 30 fps stream", fps)
	}
	if code, _ := h.api("GET", "/api/streams/nope", adminToken, nil); code != http.StatusNotFound {
		t.Errorf("unknown stream: %d", code)
	}
	if v := h.metric(`vigil_streams_active{protocol="rtmp"}`); v != 1 {
		t.Errorf("streams_active %v, want 1", v)
	}
	if v := h.metric(`vigil_frames_total{stage="sampled"}`); v < 2 {
		t.Errorf("sampled frames %v", v)
	}

	if code, byName := h.api("GET", "/api/streams/cam.7", adminToken, nil); code != http.StatusOK || byName["id"] != id {
		t.Errorf("by name: %d %v", code, byName)
	}
	code, res := h.api("POST", "/api/streams/"+url.PathEscape(id)+"/block", adminToken, strings.NewReader(`{"note":"moderator decision"}`))
	if code != http.StatusAccepted || res["enforced"] != "signal" {
		t.Fatalf("block: %d %v", code, res)
	}
	select {
	case m := <-blocks:
		ev, err := signal.ParseBlock(m.Data)
		if err != nil || ev.Data.Reason != "manual" || ev.Data.Note != "moderator decision" || ev.ID != res["event"] {
			t.Fatalf("signal %v: %s", err, m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no signal for the manual block")
	}
	if !p.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("publisher still running after a manual block")
	}
	waitGone(t, h, id)
	if v := h.metric(`vigil_streams_active{protocol="rtmp"}`); v != 0 {
		t.Errorf("streams_active %v after the block", v)
	}
	if v := h.metric(`vigil_signals_received_total{result="applied"}`); v != 1 {
		t.Errorf("signals applied %v", v)
	}
}

func waitGone(t *testing.T, h *harness, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.node.Registry().Get(id) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("stream %s still registered", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Hot reload: a new list takes effect for a live stream without dropping
// it; a corrupt file is refused and the node keeps its index.
func TestIndexReload(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(21, 640, 360))
	good := knownList(t, img)
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte("# empty for now\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startNode(t, list, "--admin-token", adminToken, "--index-poll", "0")
	blocks := h.blocks()
	p := testenv.Publish(t, h.rtmpURL("live"), testenv.PublishOptions{Image: img, ImageAt: 0, Duration: 60 * time.Second})
	st := h.waitStream("live", 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); st.Stats.Sampled.Load() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("no samples")
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case m := <-blocks:
		t.Fatalf("signal before the list holds the image: %s", m.Data)
	default:
	}

	// A truncated file is refused; the node keeps the empty index.
	raw, _ := os.ReadFile(good)
	if err := os.WriteFile(list, raw[:len(raw)-20], 0o600); err != nil {
		t.Fatal(err)
	}
	code, res := h.api("POST", "/api/index/reload", adminToken, nil)
	if code != http.StatusUnprocessableEntity || res["error"] == nil {
		t.Fatalf("corrupt reload: %d %v", code, res)
	}
	if v := h.metric(`vigil_index_reloads_total{result="refused"}`); v != 1 {
		t.Errorf("refused reloads %v", v)
	}
	sampledBefore := st.Stats.Sampled.Load()

	if err := os.WriteFile(list, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	code, res = h.api("POST", "/api/index/reload", adminToken, nil)
	if code != http.StatusOK || res["entries"] != 1.0 {
		t.Fatalf("reload: %d %v", code, res)
	}
	select {
	case m := <-blocks:
		ev, _ := signal.ParseBlock(m.Data)
		if ev.Data.Stream.ID != "live" {
			t.Fatalf("signal for %s", ev.Data.Stream.ID)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no block after the reload put the image on the list")
	}
	if st.Stats.Sampled.Load() <= sampledBefore {
		t.Error("sampling stopped across the reload")
	}
	if !p.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("publisher not cut")
	}
}

// The node joins a stream it does not host by URL and blocks it like one of
// its own.
func TestJoinByURL(t *testing.T) {
	img := testenv.WritePNG(t, "known.png", testenv.KnownImage(22, 640, 360))
	h := startNode(t, knownList(t, img), "--admin-token", adminToken, "--pull-allow-files")
	blocks := h.blocks()
	video := filepath.Join(t.TempDir(), "remote.mkv")
	testenv.RunFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=20",
		"-loop", "1", "-framerate", "30", "-t", "20", "-i", img,
		"-filter_complex", "[1:v]scale=640:360,format=yuv420p[img];[0:v][img]overlay=enable='gte(t,2)'[v]", "-map", "[v]",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", video)

	if code, res := h.api("POST", "/api/joins", adminToken, strings.NewReader(`{"url":"gopher://x/y","name":"x"}`)); code != http.StatusBadRequest {
		t.Fatalf("join with a refused scheme: %d %v", code, res)
	}
	off := startNode(t, "", "--admin-token", adminToken)
	if code, res := off.api("POST", "/api/joins", adminToken, strings.NewReader(`{"url":"file://`+video+`","name":"x"}`)); code != http.StatusBadRequest {
		t.Fatalf("file join on a node that does not allow files: %d %v", code, res)
	}

	code, res := h.api("POST", "/api/joins", adminToken, strings.NewReader(fmt.Sprintf(`{"url":"file://%s","name":"remote","protocol":"pull"}`, video)))
	if code != http.StatusAccepted || res["stream"] != "remote" {
		t.Fatalf("join: %d %v", code, res)
	}
	select {
	case m := <-blocks:
		ev, err := signal.ParseBlock(m.Data)
		if err != nil || ev.Data.Stream.ID != "remote" || ev.Data.Stream.Protocol != "pull" {
			t.Fatalf("signal %v: %s", err, m.Data)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("joined stream not blocked")
	}
	waitGone(t, h, "remote")
}

// Shutdown ends streams with a reason and returns within the deadline.
func TestGracefulShutdown(t *testing.T) {
	cfgArgs := []string{"--shutdown-timeout", "5s"}
	h := startNode(t, "", cfgArgs...)
	p := testenv.Publish(t, h.rtmpURL("s"), testenv.PublishOptions{})
	st := h.waitStream("s", 10*time.Second)
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	<-st.Context().Done()
	if cause := context.Cause(st.Context()); cause != ingest.ErrShutdown {
		t.Fatalf("stream ended with %v, want ErrShutdown", cause)
	}
	if !p.WaitExit(context.Background(), 5*time.Second) {
		t.Fatal("publisher still connected after shutdown")
	}
	if !h.log.WaitFor("node stopped", time.Second) {
		t.Fatal("no 'node stopped' line")
	}
}

// The admin API lists the blocklist the node enforces and lifts an entry on
// every node: after the DELETE the key is admitted again; a second DELETE
// finds nothing; malformed kinds and values are refused.
func TestAdminAPIBlocklist(t *testing.T) {
	h := startNode(t, "", "--admin-token", adminToken)
	keyed := ingest.Request{Protocol: "rtmp", Name: "x", ID: "x", Key: "k1", Remote: "192.0.2.1:1"}
	// The node subscribes to block signals before it says it serves.
	waitUntil(t, "node serving", 10*time.Second, func() bool { return strings.Contains(h.log.String(), "node serving") })
	ban := signal.NewBlockEvent("test://moderator", signal.Block{
		Target: &signal.Target{Key: "k1", RemoteAddr: "10.1.2.3:4000", TTLSeconds: 600}, Reason: signal.ReasonManual, Note: "ban",
	})
	raw, _ := json.Marshal(ban)
	if err := h.nc.Publish(signal.BlockSubject(""), raw); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "ban reaches admission", 5*time.Second, func() bool {
		return errorsIs(h.node.blocklisted(context.Background(), keyed), ingest.ErrRefused)
	})
	if code, _ := h.api("GET", "/api/blocklist", "", nil); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	code, list := h.api("GET", "/api/blocklist", adminToken, nil)
	entries, _ := list["entries"].([]any)
	if code != http.StatusOK || len(entries) != 2 {
		t.Fatalf("list: %d %v", code, list)
	}
	var values []string
	for _, e := range entries {
		values = append(values, e.(map[string]any)["value"].(string))
	}
	slices.Sort(values)
	if want := []string{"10.1.2.3", ingest.KeyHash("k1")}; !slices.Equal(values, want) {
		t.Fatalf("values %v, want %v", values, want)
	}

	path := "/api/blocklist/key/" + ingest.KeyHash("k1")
	if code, res := h.api("DELETE", path, adminToken, nil); code != http.StatusOK || res["lifted"] != "key."+ingest.KeyHash("k1") {
		t.Fatalf("delete: %d %v", code, res)
	}
	if err := h.node.blocklisted(context.Background(), keyed); err != nil {
		t.Fatalf("lifted key still refused: %v", err)
	}
	if code, list := h.api("GET", "/api/blocklist", adminToken, nil); code != http.StatusOK || len(list["entries"].([]any)) != 1 {
		t.Fatalf("list after delete: %d %v", code, list)
	}
	if code, _ := h.api("DELETE", path, adminToken, nil); code != http.StatusNotFound {
		t.Errorf("second delete: %d, want 404", code)
	}
	for _, p := range []string{"/api/blocklist/key/K1", "/api/blocklist/addr/not-an-ip", "/api/blocklist/stream/x"} {
		if code, _ := h.api("DELETE", p, adminToken, nil); code != http.StatusBadRequest {
			t.Errorf("DELETE %s: %d, want 400", p, code)
		}
	}
	if code, _ := h.api("DELETE", "/api/blocklist/addr/10.1.2.3", adminToken, nil); code != http.StatusOK {
		t.Errorf("delete address: %d", code)
	}
}
