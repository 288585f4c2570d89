package ingest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vigilstream/vigil/sampler"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegistryRefusesSecondPublisher(t *testing.T) {
	r := NewRegistry(func(context.Context, *Stream, sampler.Params, <-chan sampler.AccessUnit) {})
	a, err := r.Open(context.Background(), Request{Name: "cam", Protocol: "rtmp", Remote: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(context.Background(), Request{Name: "cam", Protocol: "rtmp", Remote: "127.0.0.1:2"}); !errors.Is(err, ErrStreamExists) {
		t.Fatalf("second publisher: err = %v, want ErrStreamExists", err)
	}
	a.End(nil)
	b, err := r.Open(context.Background(), Request{Name: "cam", Protocol: "rtmp", Remote: "127.0.0.1:3"})
	if err != nil {
		t.Fatalf("name not freed after End: %v", err)
	}
	defer b.End(nil)
	if b.Session == a.Session {
		t.Fatal("two connections share a session id")
	}
}

func TestRegistryClose(t *testing.T) {
	r := NewRegistry(func(context.Context, *Stream, sampler.Params, <-chan sampler.AccessUnit) {})
	s, err := r.Open(context.Background(), Request{Name: "a.b", Protocol: "rtmp", Remote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.End(nil)
	if r.Close(s.ID, "other-session", ErrBlocked) {
		t.Fatal("closed a stream for another session")
	}
	if s.Context().Err() != nil {
		t.Fatal("stream ended by a block for another session")
	}
	if !r.Close(s.ID, "", ErrBlocked) {
		t.Fatal("stream not found by id")
	}
	<-s.Context().Done()
	if !errors.Is(context.Cause(s.Context()), ErrBlocked) {
		t.Fatalf("cause = %v, want ErrBlocked", context.Cause(s.Context()))
	}
	if r.Close("nope", "", ErrBlocked) {
		t.Fatal("closed an unknown stream")
	}
}

func TestStreamPushNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	var got []sampler.AccessUnit
	r := NewRegistry(func(ctx context.Context, s *Stream, p sampler.Params, units <-chan sampler.AccessUnit) {
		<-release
		for au := range units {
			got = append(got, au)
		}
	})
	s, err := r.Open(context.Background(), Request{Name: "x", Protocol: "rtmp", Remote: "x"})
	if err != nil {
		t.Fatal(err)
	}
	s.StartVideo(sampler.Params{Codec: sampler.H264}, 2)
	// The consumer is stuck: two units fit, the third and the delta after
	// it are dropped, the next keyframe gets through once there is room.
	s.Push(sampler.AccessUnit{Key: true})
	s.Push(sampler.AccessUnit{})
	s.Push(sampler.AccessUnit{})
	s.Push(sampler.AccessUnit{})
	if n := s.QueueDropped(); n != 2 {
		t.Fatalf("dropped %d, want 2", n)
	}
	close(release)
	s.End(nil)
	if len(got) != 2 || !got[0].Key {
		t.Fatalf("consumer got %d units", len(got))
	}
}

// A stream knows the hash of the key it was admitted with, and the hooks
// see every start and every refusal.
func TestRegistryAdmissionHooks(t *testing.T) {
	r := NewRegistry(func(context.Context, *Stream, sampler.Params, <-chan sampler.AccessUnit) {})
	var started []*Stream
	var refused []Request
	r.OnStarted(func(s *Stream) { started = append(started, s) })
	r.OnRefused(func(req Request, err error) { refused = append(refused, req) })
	r.SetAdmitter(func(_ context.Context, req Request) error {
		if req.Key == "bad" {
			return fmt.Errorf("%w: key revoked", ErrRefused)
		}
		return nil
	})
	ctx := context.Background()
	if err := r.Admit(ctx, Request{Protocol: "rtmp", Name: "cam", Key: "secret", Remote: "10.0.0.1:5000"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Admit(ctx, Request{Protocol: "rtmp", Name: "cam2", Key: "bad", Remote: "10.0.0.2:5000"}); !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want ErrRefused", err)
	}
	s, err := r.Open(ctx, Request{Protocol: "rtmp", Name: "cam", Key: "secret", Remote: "10.0.0.1:5000"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.End(nil)
	if s.KeyHash != KeyHash("secret") || len(s.KeyHash) != 64 {
		t.Fatalf("KeyHash = %q", s.KeyHash)
	}
	// Another connection of the same name presented no key.
	s.End(nil)
	s2, err := r.Open(ctx, Request{Protocol: "rtmp", Name: "cam", Remote: "10.0.0.1:6000"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.End(nil)
	if s2.KeyHash != "" {
		t.Fatalf("key of another connection carried over: %q", s2.KeyHash)
	}
	if len(started) != 2 || started[0] != s || len(refused) != 1 || refused[0].Key != "bad" || refused[0].ID != "cam2" {
		t.Fatalf("started %d, refused %+v", len(started), refused)
	}
}
