package webrtc

import (
	"errors"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/ingest"
	"github.com/vigilstream/vigil/internal/testenv"
)

func fastClient() ClientConfig {
	c := DefaultClientConfig
	c.MinBackoff, c.MaxBackoff, c.GiveUpAfter = 20*time.Millisecond, 100*time.Millisecond, 5*time.Second
	return c
}

// The client joins a WHEP stream, decodes it as a hosted stream, deletes
// nothing while it runs, and reports the stream ended when the source
// ends, without reconnecting.
func TestWHEPJoinUntilSourceEnds(t *testing.T) {
	origin := testenv.ServeWHEP(t, pion.MimeTypeH264, clip(t, pion.MimeTypeH264, testenv.EncodeOptions{Duration: 2 * time.Second}))
	r := newRig(t, DefaultConfig, fastClient())
	j, err := r.client.Join(origin.URL, "joined", "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.Connected():
	case <-j.Done():
		t.Fatalf("join ended before connecting: %v", j.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("not connected within 10 s")
	}
	st := r.reg.Get("joined")
	if st == nil || st.Protocol != "whep" || st.Remote != origin.URL {
		t.Fatalf("registered stream %+v", st)
	}
	d := r.stats("joined", 5*time.Second)
	waitFor(t, 10*time.Second, "30 pictures decoded", func() bool { return d.stats.Decoded.Load() >= 30 })

	origin.EndSource()
	select {
	case <-j.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("join still running 10 s after the source ended")
	}
	if !errors.Is(j.Err(), ErrSourceEnded) {
		t.Fatalf("join ended with %v, want ErrSourceEnded", j.Err())
	}
	if origin.Posts() != 1 {
		t.Errorf("%d offers: the client reconnected to an ended source", origin.Posts())
	}
	if r.reg.Len() != 0 {
		t.Error("stream still registered")
	}
}

// An origin that refuses for a while is retried with backoff; once in,
// the stream is watched.
func TestWHEPReconnects(t *testing.T) {
	origin := testenv.ServeWHEP(t, pion.MimeTypeVP8, clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second}))
	origin.Refuse.Store(3)
	r := newRig(t, DefaultConfig, fastClient())
	j, err := r.client.Join(origin.URL, "joined", "tok-en")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.Connected():
	case <-j.Done():
		t.Fatalf("join ended: %v", j.Err())
	case <-time.After(15 * time.Second):
		t.Fatal("not connected within 15 s")
	}
	if origin.Posts() != 4 {
		t.Errorf("%d offers, want 3 refused and 1 answered", origin.Posts())
	}
	j.Stop()
	if !errors.Is(j.Err(), ingest.ErrShutdown) {
		t.Errorf("stopped join ended with %v", j.Err())
	}
	waitFor(t, 5*time.Second, "origin session deleted", func() bool { return origin.Viewers() == 0 })
}

// A blocked joined stream is left and never rejoined.
func TestWHEPBlockLeaves(t *testing.T) {
	origin := testenv.ServeWHEP(t, pion.MimeTypeVP8, clip(t, pion.MimeTypeVP8, testenv.EncodeOptions{Duration: 2 * time.Second}))
	r := newRig(t, DefaultConfig, fastClient())
	j, err := r.client.Join(origin.URL, "joined", "")
	if err != nil {
		t.Fatal(err)
	}
	<-j.Connected()
	r.reg.Close("joined", "", ingest.ErrBlocked)
	select {
	case <-j.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("join still running after the block")
	}
	if !errors.Is(j.Err(), ingest.ErrBlocked) {
		t.Fatalf("join ended with %v", j.Err())
	}
	if origin.Posts() != 1 {
		t.Errorf("%d offers: a blocked stream was rejoined", origin.Posts())
	}
	waitFor(t, 5*time.Second, "origin session deleted", func() bool { return origin.Viewers() == 0 })
}

func TestWHEPJoinRefusesBadInput(t *testing.T) {
	r := newRig(t, DefaultConfig, fastClient())
	for _, tt := range []struct{ url, name, token string }{
		{"ftp://x/y", "a", ""},
		{"not a url", "a", ""},
		{"http:///nohost", "a", ""},
		{"http://127.0.0.1:1/whep", "", ""},
		{"http://127.0.0.1:1/whep", "a", "bad token with spaces"},
	} {
		if _, err := r.client.Join(tt.url, tt.name, tt.token); err == nil {
			t.Errorf("Join(%q, %q, %q) accepted", tt.url, tt.name, tt.token)
		}
	}
	// An origin that no longer has the stream (404) ends the join at once.
	origin := testenv.ServeWHEP(t, pion.MimeTypeVP8, nil)
	origin.EndSource()
	j, err := r.client.Join(origin.URL, "gone", "")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(j.Err(), ErrSourceEnded) {
		t.Fatalf("join of an ended source: %v", j.Err())
	}
}
