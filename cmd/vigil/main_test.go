package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/vigilstream/vigil/sampler"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	sampler.SilenceFFmpegLogs()
	goleak.VerifyTestMain(m)
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
