// Package natstest starts nats-servers for tests. It is apart from testenv
// because importing the server starts a goroutine that samples the process
// every second and allocates as it does, which the zero-allocation tests of
// the packages that use testenv would count.
package natstest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSServer starts a nats-server with opts on a random loopback port, with
// JetStream in a temporary directory unless opts names a store, and shuts it
// down when the test ends.
func NATSServer(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	if opts.StoreDir == "" {
		opts.JetStream, opts.StoreDir = true, t.TempDir()
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// ExampleNATS runs a nats-server loaded from the example configuration
// shipped in internal/signal/examples (dir is that folder, relative to the
// test's package) and returns its URL. Every role's password is its name.
func ExampleNATS(t *testing.T, dir string) string {
	t.Helper()
	for _, role := range []string{"NODE", "ENFORCER", "OPERATOR", "REVIEWER", "SYS"} {
		t.Setenv("VIGIL_"+role+"_PASSWORD", strings.ToLower(role))
	}
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "nats-server.conf"))
	if err != nil {
		t.Fatalf("example configuration: %v", err)
	}
	opts.StoreDir = t.TempDir()
	return NATSServer(t, opts).ClientURL()
}
