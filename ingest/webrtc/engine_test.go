package webrtc

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/testenv"
)

// candidates returns the host and port of every candidate in an SDP.
func candidates(t *testing.T, sdp string) [][2]string {
	t.Helper()
	var out [][2]string
	for line := range strings.SplitSeq(sdp, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "a=candidate:") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("short candidate %q", line)
		}
		out = append(out, [2]string{f[4], f[5]})
	}
	if len(out) == 0 {
		t.Fatalf("answer without candidates:\n%s", sdp)
	}
	return out
}

// The ICE settings shape the candidates the node announces, and sessions
// connect through them: one UDP port for every session with the mux, ports
// from the range without it, and the public address in place of the
// host's behind a 1:1 NAT.
func TestICESettings(t *testing.T) {
	frames := clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: time.Second})
	tests := []struct {
		name    string
		ice     ICEConfig
		check   func(t *testing.T, e *Engine, host, port string)
		connect bool
	}{
		{"udp mux", ICEConfig{UDPMux: "127.0.0.1:0"}, func(t *testing.T, e *Engine, host, port string) {
			if want := strconv.Itoa(e.UDPMuxAddr().(*net.UDPAddr).Port); port != want || host != "127.0.0.1" {
				t.Errorf("candidate %s:%s, want 127.0.0.1:%s (the mux)", host, port, want)
			}
		}, true},
		{"port range", ICEConfig{IPs: []string{"127.0.0.1"}, PortMin: 47100, PortMax: 47120}, func(t *testing.T, _ *Engine, host, port string) {
			if p, _ := strconv.Atoi(port); p < 47100 || p > 47120 || host != "127.0.0.1" {
				t.Errorf("candidate %s:%s outside 127.0.0.1:47100-47120", host, port)
			}
		}, true},
		{"public IP", ICEConfig{IPs: []string{"127.0.0.1"}, PublicIPs: []string{"203.0.113.9"}}, func(t *testing.T, _ *Engine, host, _ string) {
			if host != "203.0.113.9" {
				t.Errorf("candidate %s, want the public 203.0.113.9", host)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			eng, err := NewEngine(tt.ice, log)
			if err != nil {
				t.Fatal(err)
			}
			reg := ingest.NewRegistry((&rig{t: t, streams: map[string]decoded{}}).consume)
			srv := NewServer(DefaultConfig, eng, reg, "/whip/", log)
			mux := http.NewServeMux()
			mux.Handle("/whip/", srv.Handler())
			hs := httptest.NewServer(mux)
			defer func() {
				hs.Close()
				_ = srv.Close()
				_ = eng.Close()
			}()
			// Two sessions, to see that the mux serves both on one port.
			for i := range 2 {
				name := "s" + strconv.Itoa(i)
				answer, _, err := testenv.PostSDP(hs.URL+"/whip/"+name, "", deadOffer(t))
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range candidates(t, answer) {
					tt.check(t, eng, c[0], c[1])
				}
				if !tt.connect {
					continue
				}
				p, err := testenv.PublishWHIP(t, hs.URL+"/whip/live"+name, frames, testenv.WHIPOptions{MimeType: pion.MimeTypeVP8})
				if err != nil {
					t.Fatal(err)
				}
				waitFor(t, 10*time.Second, "video flowing", func() bool {
					st := reg.Get("live" + name)
					return st != nil && st.Stats.Decoded.Load() > 0
				})
				p.Close()
			}
		})
	}
}
