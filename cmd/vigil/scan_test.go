package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilstream/vigil/detector"
	"github.com/vigilstream/vigil/internal/scan"
	"github.com/vigilstream/vigil/internal/testenv"
)

// knownVideo writes 6 s of moving test pattern that shows img from t=3 s,
// passed through the extra filter (e.g. a mirror and a letterbox).
func knownVideo(t *testing.T, img, name, filter string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	graph := "[1:v]scale=640:360,format=yuv420p[img];[0:v][img]overlay=enable='gte(t,3)'"
	if filter != "" {
		graph += "," + filter
	}
	graph += "[v]"
	testenv.RunFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6",
		"-loop", "1", "-framerate", "30", "-t", "6", "-i", img,
		"-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", out)
	return out
}

func TestScan(t *testing.T) {
	known := testenv.WritePNG(t, "known.png", testenv.KnownImage(11, 640, 360))
	img, _, err := detector.DecodeImageFile(known, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := detector.NewPDQHasher().HashImage(img)
	if err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte(h.String()+",stand-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := knownVideo(t, known, "plain.mp4", "")
	// A restreamer that mirrors the picture and letterboxes it into 4:3.
	disguised := knownVideo(t, known, "disguised.mkv", "hflip,pad=640:480:0:60:black")
	benign := filepath.Join(t.TempDir(), "benign.mp4")
	testenv.RunFFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p", benign)
	garbage := filepath.Join(t.TempDir(), "garbage.mp4")
	_ = os.WriteFile(garbage, []byte(strings.Repeat("\x00\x01garbage", 500)), 0o600)

	out, stderr, err := vigil(t, context.Background(), nil, "scan", "--index", list, plain, disguised, benign, known, garbage, "/no/such/file.mp4")
	if !errors.Is(err, errFailed) {
		t.Fatalf("err = %v, want a non-zero exit for the two bad inputs; stderr:\n%s", err, stderr)
	}
	for _, name := range []string{"garbage.mp4", "/no/such/file.mp4"} {
		if !strings.Contains(stderr, name) {
			t.Errorf("stderr does not name %s:\n%s", name, stderr)
		}
	}
	matches := map[string][]scan.Match{}
	summaries := map[string]scan.Summary{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, `"frames"`) {
			var s scan.Summary
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				t.Fatal(err)
			}
			summaries[s.Input] = s
			continue
		}
		var m scan.Match
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		matches[m.Input] = append(matches[m.Input], m)
	}
	for _, in := range []string{plain, disguised} {
		ms := matches[in]
		if len(ms) == 0 {
			t.Errorf("%s: no match", filepath.Base(in))
		}
		for _, m := range ms {
			if m.Time < 2.9 || m.Label != "stand-in" || m.Algorithm != "pdq" || m.Distance > 31 {
				t.Errorf("%s: unexpected match %+v", filepath.Base(in), m)
			}
		}
		if s := summaries[in]; s.Frames < 3 || s.Matches != len(ms) || s.Duration < 5.9 {
			t.Errorf("%s: summary %+v", filepath.Base(in), s)
		}
	}
	if len(matches[benign]) != 0 || summaries[benign].Frames == 0 {
		t.Errorf("benign video: %d matches, summary %+v", len(matches[benign]), summaries[benign])
	}
	if ms := matches[known]; len(ms) != 1 || ms[0].Distance > 2 {
		t.Errorf("the known image itself: %+v", ms)
	}

	// A URL goes through FFmpeg's network protocols.
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(plain))))
	defer srv.Close()
	u := srv.URL + "/" + filepath.Base(plain)
	out, stderr, err = vigil(t, context.Background(), nil, "scan", "--index", list, u)
	if err != nil || !strings.Contains(out, `"input":"`+u+`","time":`) || !strings.Contains(out, `"label":"stand-in"`) {
		t.Fatalf("scan of %s: %v\n%s\n%s", u, err, out, stderr)
	}
}
