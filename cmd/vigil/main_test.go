package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/vigilstream/vigil/internal/testenv"
	"github.com/vigilstream/vigil/sampler"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	sampler.SilenceFFmpegLogs()
	goleak.VerifyTestMain(m, testenv.LeakOptions()...)
}

// vigil runs the command line in-process and returns its output.
func vigil(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	err := run(ctx, args, nil, stdin, &out, &errb)
	return out.String(), errb.String(), err
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"hash"}, {"signals"}, {"serve", "--no-such-flag"}} {
		_, _, err := vigil(t, context.Background(), nil, args...)
		if err == nil || exitCode(err) != 2 {
			t.Errorf("vigil %v: err %v (exit %d), want a usage error (exit 2)", args, err, exitCode(err))
		}
	}
	out, _, err := vigil(t, context.Background(), nil, "serve", "--help")
	if err != nil || !strings.Contains(out, "--rtmp-addr") && !strings.Contains(out, "-rtmp-addr") {
		t.Errorf("serve --help: %v\n%s", err, out)
	}
}

func TestServeCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("rtmp-adr: :1935\nhttp-addr: nonsense\nsample-interval: -1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := vigil(t, context.Background(), nil, "serve", "--config", bad, "--check-config")
	if err == nil {
		t.Fatalf("bad configuration passed:\n%s", out)
	}
	for _, want := range []string{"rtmp-adr", "http-addr", "sample-interval"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not name %s:\n%s", want, out)
		}
	}
	good := dir + "/good.yaml"
	_ = os.WriteFile(good, []byte("rtmp-addr: 127.0.0.1:1935\nsample-policy: keyframe\n"), 0o600)
	out, _, err = vigil(t, context.Background(), nil, "serve", "--config", good, "--check-config")
	if err != nil || !strings.Contains(out, "configuration ok") {
		t.Fatalf("good configuration: %v\n%s", err, out)
	}
}

// Every subcommand answers --help with its usage and an example.
func TestEverySubcommandHasHelpWithExample(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--help"}, {"hash", "--help"}, {"hash", "image", "--help"}, {"index", "--help"},
		{"index", "build", "--help"}, {"index", "publish", "--help"}, {"scan", "--help"},
		{"signals", "tail", "--help"}, {"jobs", "--help"}, {"blocklist", "--help"}, {"blocklist", "rm", "--help"},
	} {
		out, errOut, err := vigil(t, context.Background(), nil, args...)
		if err != nil {
			t.Errorf("vigil %v: %v", args, err)
			continue
		}
		if !strings.Contains(out+errOut, "Example") {
			t.Errorf("vigil %v: no example in\n%s%s", args, out, errOut)
		}
	}
}
