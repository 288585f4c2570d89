package testenv

import "go.uber.org/goleak"

// LeakOptions are the goleak options of packages whose tests publish to a
// JetStream object store (signal.Bus.PublishIndex). nats.go v1.55's
// ObjectStore.Put starts a publisher whose goroutine
// (jetStream.resetPendingAcksOnReconnect) reads its status channel after it
// starts; Put's deferred cleanup can clear that channel first, and the
// goroutine then waits on a nil channel for good. One such goroutine per
// Put, in the publishing process: harmless for `vigil index publish`, which
// exits, but goleak finds it in now and then (seen once in some ten runs of the suite).
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
	}
}
