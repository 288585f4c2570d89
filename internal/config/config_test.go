package config

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the README's configuration reference")

func TestLoadPrecedence(t *testing.T) {
	env := []string{"VIGIL_RTMP_ADDR=127.0.0.1:1000", "VIGIL_HTTP_ADDR=127.0.0.1:2000", "VIGIL_SAMPLE_INTERVAL=3s", "PATH=/bin"}
	c, err := Load("serve", []string{"--rtmp-addr", "127.0.0.1:3000", "--node-id", "n1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.RTMPAddr != "127.0.0.1:3000" {
		t.Errorf("flag lost to env: rtmp-addr %q", c.RTMPAddr)
	}
	if c.HTTPAddr != "127.0.0.1:2000" {
		t.Errorf("env lost to default: http-addr %q", c.HTTPAddr)
	}
	if c.SampleInterval != 3*time.Second {
		t.Errorf("sample-interval %s, want 3s from env", c.SampleInterval)
	}
	if c.NATSListen != "127.0.0.1:4222" || c.NodeID != "n1" {
		t.Errorf("defaults: %+v", c)
	}
}

func TestLoadNamesEveryProblem(t *testing.T) {
	_, err := Load("serve", []string{"--http-addr", "nonsense", "--sample-interval", "-1s", "--min-matches", "0"}, []string{"VIGIL_MAX_PIXELS=lots"})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	// Env errors stop before flags are read; then the rest is validated.
	if !strings.Contains(err.Error(), "VIGIL_MAX_PIXELS") {
		t.Fatalf("err = %v", err)
	}
	_, err = Load("serve", []string{"--http-addr", "nonsense", "--sample-interval", "-1s", "--min-matches", "0"}, nil)
	for _, want := range []string{"http-addr", "sample-interval", "min-matches"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

// The README's configuration reference is generated from the struct; this
// fails when one changes without the other. Regenerate with
// `go test ./internal/config -run TestReadmeReference -update`.
func TestReadmeReference(t *testing.T) {
	const begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	got := readme[i+len(begin) : j]
	want := Reference()
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile("../../README.md", []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README configuration reference is stale; run go test ./internal/config -run TestReadmeReference -update\nwant:\n%s", want)
}

func TestLoadYAMLPrecedenceAndProblems(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/good.yaml"
	_ = os.WriteFile(good, []byte("rtmp-addr: 127.0.0.1:1111\nhttp-addr: 127.0.0.1:2222\nnats-listen: 127.0.0.1:3333\nsample-interval: 4s\ndihedral: false\n"), 0o600)
	c, err := Load("serve", []string{"--config", good, "--http-addr", "127.0.0.1:9999"}, []string{"VIGIL_NATS_LISTEN=127.0.0.1:8888"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RTMPAddr != "127.0.0.1:1111" || c.SampleInterval != 4*time.Second || c.Dihedral {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.NATSListen != "127.0.0.1:8888" {
		t.Errorf("env lost to the file: %s", c.NATSListen)
	}
	if c.HTTPAddr != "127.0.0.1:9999" {
		t.Errorf("flag lost to the file: %s", c.HTTPAddr)
	}

	bad := dir + "/bad.yaml"
	_ = os.WriteFile(bad, []byte("rtmp-adr: :1935\nhttp-addr: nonsense\nsample-interval: -2s\n"), 0o600)
	_, check, err := LoadCheck("serve", []string{"--check-config"}, []string{"VIGIL_CONFIG=" + bad})
	if !check {
		t.Error("--check-config not reported")
	}
	for _, want := range []string{`unknown key "rtmp-adr"`, "http-addr", "sample-interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestNATSAndFleetChecks(t *testing.T) {
	c, err := Load("serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.JobsCapacity != 8 || !c.FleetIndex || c.BlocklistOnMatch != "key" || c.NATSReplicas != 1 {
		t.Fatalf("defaults: %+v", c)
	}
	_, err = Load("serve", []string{"--nats-user", "u", "--nats-token", "t", "--nats-cert", "c.pem", "--nats-replicas", "7",
		"--blocklist-on-match", "everything", "--heartbeat-interval", "10ms"}, nil)
	for _, want := range []string{"one way to authenticate", "nats-cert and nats-key", "nats-replicas", "blocklist-on-match", "heartbeat-interval", "give --nats-url"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	env := []string{"VIGIL_NATS_URL=nats://a:4222,nats://b:4222", "VIGIL_NATS_USER=node", "VIGIL_NATS_PASSWORD=pw"}
	c, err = Load("serve", nil, env)
	if err != nil || c.NATSUser != "node" || c.NATSPassword != "pw" {
		t.Fatalf("external NATS from the environment: %+v, %v", c, err)
	}
}
