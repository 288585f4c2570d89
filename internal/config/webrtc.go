package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/vigilstream/vigil/ingest/webrtc"
)

// List splits a comma-separated flag value, dropping empty entries.
func List(s string) []string {
	var out []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// UDPPorts is --webrtc-udp-ports as numbers; both 0 when unset.
func (c Config) UDPPorts() (lo, hi uint16, err error) {
	if c.WebRTCUDPPorts == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(c.WebRTCUDPPorts, "-")
	x, errA := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	y, errB := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if !ok || errA != nil || errB != nil || x == 0 || x > y {
		return 0, 0, fmt.Errorf("config: webrtc-udp-ports %q: want MIN-MAX with 1 <= MIN <= MAX <= 65535", c.WebRTCUDPPorts)
	}
	return uint16(x), uint16(y), nil
}

// WHEPJoin is one stream to join over WHEP at start.
type WHEPJoin struct{ Name, URL string }

// WHEPJoins parses --whep-join.
func (c Config) WHEPJoins() ([]WHEPJoin, error) {
	var joins []WHEPJoin
	for _, e := range List(c.WHEPJoin) {
		name, raw := "", e
		if i := strings.IndexByte(e, '='); i > 0 && !strings.ContainsAny(e[:i], ":/") {
			name, raw = e[:i], e[i+1:]
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("config: whep-join %q: want http(s)://HOST/PATH or NAME=URL", e)
		}
		if name == "" {
			name = path.Base(strings.TrimRight(u.Path, "/"))
			if name == "." || name == "/" || name == "" {
				return nil, fmt.Errorf("config: whep-join %q: the URL has no path to name the stream after; use NAME=URL", e)
			}
		}
		joins = append(joins, WHEPJoin{Name: name, URL: raw})
	}
	return joins, nil
}

func (c Config) validateWebRTC() []error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("config: "+format, args...))
		}
	}
	if _, err := webrtc.ParseTokens(c.WHIPTokens); err != nil {
		errs = append(errs, fmt.Errorf("config: whip-tokens: %w", err))
	}
	check(c.WHIPMaxBody >= 1024 && c.WHIPMaxBody <= 16<<20, "whip-max-body %d: want 1024 to %d bytes", c.WHIPMaxBody, 16<<20)
	check(c.WHIPMaxPending > 0, "whip-max-pending %d must be positive", c.WHIPMaxPending)
	check(c.WebRTCSetupTimeout > 0, "webrtc-setup-timeout %s must be positive", c.WebRTCSetupTimeout)
	for _, ip := range List(c.WebRTCPublicIP) {
		check(net.ParseIP(ip) != nil, "webrtc-public-ip %q is not an IP address", ip)
	}
	for _, ip := range List(c.WebRTCIPs) {
		check(net.ParseIP(ip) != nil, "webrtc-ips %q is not an IP address", ip)
	}
	if _, _, err := c.UDPPorts(); err != nil {
		errs = append(errs, err)
	}
	if c.WebRTCUDPMux != "" {
		_, _, err := net.SplitHostPort(c.WebRTCUDPMux)
		check(err == nil, "webrtc-udp-mux %q: want HOST:PORT", c.WebRTCUDPMux)
		check(c.WebRTCUDPPorts == "", "webrtc-udp-mux and webrtc-udp-ports exclude each other: the mux uses one port")
	}
	if _, err := c.WHEPJoins(); err != nil {
		errs = append(errs, err)
	}
	check(c.WHEPToken == "" || !strings.ContainsAny(c.WHEPToken, " \t\r\n,"), "whep-token: no spaces or commas")
	return errs
}
