package config

import (
	"strings"
	"testing"
	"time"
)

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
