package signal

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures the in-process NATS server.
type EmbeddedConfig struct {
	// Listen is the client address, e.g. "127.0.0.1:4222"; port 0 picks a
	// free port. Keep it on loopback unless the server is secured.
	Listen string
	// StoreDir holds JetStream's data.
	StoreDir string
	// ReadyTimeout bounds the wait for the server to accept clients.
	ReadyTimeout time.Duration

	// ServerName names the server; it must be unique in a cluster
	// (default "vigil-embedded").
	ServerName string
	// ClusterName, ClusterListen and Routes make the server one of a
	// cluster: it listens for routes on ClusterListen (port 0 picks one)
	// and connects to the routes given (nats-route://HOST:PORT). JetStream
	// is then clustered and needs three servers to have a quorum.
	ClusterName   string
	ClusterListen string
	Routes        []string
}

// Embedded is an in-process NATS server with JetStream.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a NATS server with JetStream in this process.
func StartEmbedded(cfg EmbeddedConfig, log *slog.Logger) (*Embedded, error) {
	host, port, err := splitListen(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("signal: embedded nats listen: %w", err)
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "vigil-embedded"
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		HTTPPort:   0,
	}
	if cfg.ClusterListen != "" {
		chost, cport, err := splitListen(cfg.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("signal: embedded nats cluster listen: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: chost, Port: cport}
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("signal: embedded nats route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("signal: embedded nats: %w", err)
	}
	srv.SetLoggerV2(natsLogger{log.With("component", "nats-server")}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("signal: embedded nats on %s not ready within %s", cfg.Listen, cfg.ReadyTimeout)
	}
	return &Embedded{srv: srv}, nil
}

func splitListen(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	if port == 0 {
		// nats-server reads 0 as "the default port"; -1 asks for any.
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// RouteURL is the URL other servers of its cluster route to, or "" when
// the server is not clustered.
func (e *Embedded) RouteURL() string {
	addr := e.srv.ClusterAddr()
	if addr == nil {
		return ""
	}
	return "nats-route://" + addr.String()
}

// Server is the nats-server itself, for tests and tools that need more.
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is the URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Close shuts the server down and waits until it has.
func (e *Embedded) Close() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// natsLogger routes nats-server's log through slog.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  {}
