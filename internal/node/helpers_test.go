package node

import (
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"strings"
	"testing"
)

func decodePNG(r io.Reader) (image.Image, error) { return png.Decode(r) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// testWriter sends log lines to t.Log, so they show with -v or on failure.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
