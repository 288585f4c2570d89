package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"
)

// Engine is the pion configuration shared by the WHIP server and the WHEP
// client: the codecs the node takes, the interceptors (NACK, RTCP reports)
// and where ICE candidates are. Close releases the single-port UDP mux.
type Engine struct {
	api *pion.API
	mux ice.UDPMux
	log *slog.Logger
}

// NewEngine builds the pion API for ICE settings c.
func NewEngine(c ICEConfig, log *slog.Logger) (*Engine, error) {
	m := &pion.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, fmt.Errorf("webrtc: codecs: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := pion.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("webrtc: interceptors: %w", err)
	}

	se := pion.SettingEngine{LoggerFactory: slogFactory{log.With("component", "pion")}}
	// Peers reach the node at its announced addresses; resolving their
	// .local names would cost a multicast socket per session for nothing.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6})
	e := &Engine{log: log}

	loopback := false
	if len(c.IPs) > 0 {
		allowed := make([]net.IP, 0, len(c.IPs))
		for _, s := range c.IPs {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("webrtc: ICE address %q is not an IP", s)
			}
			loopback = loopback || ip.IsLoopback()
			allowed = append(allowed, ip)
		}
		se.SetIPFilter(func(ip net.IP) bool {
			for _, a := range allowed {
				if a.Equal(ip) {
					return true
				}
			}
			return false
		})
	}
	if len(c.PublicIPs) > 0 {
		for _, s := range c.PublicIPs {
			if net.ParseIP(s) == nil {
				return nil, fmt.Errorf("webrtc: public IP %q is not an IP", s)
			}
		}
		err := se.SetICEAddressRewriteRules(pion.ICEAddressRewriteRule{
			External: c.PublicIPs, AsCandidateType: pion.ICECandidateTypeHost, Mode: pion.ICEAddressRewriteReplace,
		})
		if err != nil {
			return nil, fmt.Errorf("webrtc: public IPs: %w", err)
		}
	}
	if c.PortMin != 0 || c.PortMax != 0 {
		if err := se.SetEphemeralUDPPortRange(c.PortMin, c.PortMax); err != nil {
			return nil, fmt.Errorf("webrtc: UDP ports %d-%d: %w", c.PortMin, c.PortMax, err)
		}
	}
	if c.UDPMux != "" {
		addr, err := net.ResolveUDPAddr("udp", c.UDPMux)
		if err != nil {
			return nil, fmt.Errorf("webrtc: UDP mux address %q: %w", c.UDPMux, err)
		}
		conn, err := net.ListenUDP("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("webrtc: UDP mux: %w", err)
		}
		loopback = loopback || addr.IP.IsLoopback()
		e.mux = pion.NewICEUDPMux(se.LoggerFactory.NewLogger("udpmux"), conn)
		se.SetICEUDPMux(e.mux)
	}
	se.SetIncludeLoopbackCandidate(loopback)

	e.api = pion.NewAPI(pion.WithMediaEngine(m), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se))
	return e, nil
}

// UDPMuxAddr is the bound address of the single-port UDP mux, or nil.
func (e *Engine) UDPMuxAddr() net.Addr {
	if m, ok := e.mux.(*ice.UDPMuxDefault); ok {
		return m.LocalAddr()
	}
	return nil
}

// Close releases the UDP mux. Close the server and client first.
func (e *Engine) Close() error {
	if e.mux == nil {
		return nil
	}
	if err := e.mux.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("webrtc: close UDP mux: %w", err)
	}
	return nil
}

// registerCodecs offers exactly what the sampler decodes, so that a
// publisher never negotiates a codec the node cannot watch. Every video
// codec takes NACK and PLI feedback; PLI is how the node asks for keyframes.
// pion matches H.264 on the profile and constraint bytes of
// profile-level-id (the level is free), so each profile browsers and
// encoders announce is listed: constrained baseline, baseline, main (with
// and without constraint_set1), high and constrained high.
func registerCodecs(m *pion.MediaEngine) error {
	fb := []pion.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}, {Type: "transport-cc"}}
	video := []struct {
		mime, fmtp string
		pt         pion.PayloadType
	}{
		{pion.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102},
		{pion.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 104},
		{pion.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 106},
		{pion.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f", 108},
		{pion.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f", 116},
		{pion.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d401f", 118},
		{pion.MimeTypeVP8, "", 96},
		{pion.MimeTypeVP9, "profile-id=0", 98},
		{pion.MimeTypeAV1, "", 45},
	}
	for _, v := range video {
		c := pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: v.mime, ClockRate: 90000, SDPFmtpLine: v.fmtp, RTCPFeedback: fb},
			PayloadType:        v.pt,
		}
		if err := m.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return err
		}
		rtx := pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", v.pt)},
			PayloadType:        v.pt + 1,
		}
		if err := m.RegisterCodec(rtx, pion.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	audio := []pion.RTPCodecParameters{
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111},
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeG722, ClockRate: 8000}, PayloadType: 9},
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
		{RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
	}
	for _, c := range audio {
		if err := m.RegisterCodec(c, pion.RTPCodecTypeAudio); err != nil {
			return err
		}
	}
	return nil
}
