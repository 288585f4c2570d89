package webrtc

import "time"

// ICEConfig says where the node's ICE candidates are. The zero value
// gathers host candidates on every interface except loopback, with a UDP
// port per session from the ephemeral range.
type ICEConfig struct {
	// PublicIPs, behind a 1:1 NAT, replace the addresses of the host
	// candidates announced to peers.
	PublicIPs []string
	// PortMin and PortMax bound the UDP ports sessions listen on (both 0:
	// any port).
	PortMin, PortMax uint16
	// UDPMux, when set, is one UDP address (HOST:PORT) that serves every
	// session, for deployments behind a load balancer or a firewall that
	// opens a single port. Port 0 picks a free port.
	UDPMux string
	// IPs, when set, are the only local addresses candidates are gathered
	// on. A loopback address here is gathered too (tests, single-host
	// setups).
	IPs []string
}

// Config is the WHIP server's configuration.
type Config struct {
	// Tokens let publishers in; empty lets everyone in.
	Tokens Tokens
	// MaxBodyBytes bounds an SDP offer.
	MaxBodyBytes int64
	// SetupTimeout bounds the time from the offer to the first video
	// packet (ICE, DTLS, first RTP); a session that takes longer is freed.
	SetupTimeout time.Duration
	// ReadTimeout ends a session whose video stops for this long.
	ReadTimeout time.Duration
	// MaxPending bounds the sessions that are setting up at once; more are
	// refused with 503 until some connect or time out.
	MaxPending int
	// Queue is the number of access units that may wait for the decoder.
	Queue int
	// MaxFrameBytes bounds one coded frame; larger ones are dropped.
	MaxFrameBytes int
	// AllowOrigin is the CORS origin browsers may publish from ("*": any).
	AllowOrigin string
}

// DefaultConfig is what `vigil serve` uses unless told otherwise.
var DefaultConfig = Config{
	MaxBodyBytes:  64 << 10,
	SetupTimeout:  10 * time.Second,
	ReadTimeout:   10 * time.Second,
	MaxPending:    256,
	Queue:         64,
	MaxFrameBytes: 4 << 20,
	AllowOrigin:   "*",
}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.SetupTimeout <= 0 {
		c.SetupTimeout = d.SetupTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = d.MaxPending
	}
	if c.Queue <= 0 {
		c.Queue = d.Queue
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = d.MaxFrameBytes
	}
	if c.AllowOrigin == "" {
		c.AllowOrigin = d.AllowOrigin
	}
	return c
}
