package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// frameInterval is the pace of every clip: 30 frames a second.
const frameInterval = time.Second / 30

// LoopbackAPI returns a pion API whose ICE candidates are on 127.0.0.1
// only, with pion's default codecs and interceptors, so test peers never
// touch another interface.
func LoopbackAPI(tb testing.TB) *webrtc.API {
	tb.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		tb.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// StatusError is a WHIP or WHEP server's refusal.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// WHIPPublisher is a pion peer publishing a clip over WHIP in real time,
// looping it until it is closed or the server ends the session.
type WHIPPublisher struct {
	PC       *webrtc.PeerConnection
	Location string

	plis    atomic.Int64
	ended   chan struct{}
	endOnce sync.Once
	endedAt atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
}

// PublishOptions for PublishWHIP.
type WHIPOptions struct {
	// Token is sent as a bearer token when set.
	Token string
	// MimeType of the clip's codec, e.g. webrtc.MimeTypeH264.
	MimeType string
	// Audio adds an Opus track sending silence.
	Audio bool
}

// PublishWHIP posts an offer to endpoint and, once answered, sends frames
// in real time. A refusal comes back as a *StatusError. The test's cleanup
// closes the publisher.
func PublishWHIP(tb testing.TB, endpoint string, frames []Frame, o WHIPOptions) (*WHIPPublisher, error) {
	tb.Helper()
	pc, err := LoopbackAPI(tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &WHIPPublisher{PC: pc, ended: make(chan struct{}), stop: make(chan struct{})}
	tb.Cleanup(p.Close)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateClosed || s == webrtc.PeerConnectionStateFailed {
			p.endOnce.Do(func() {
				p.endedAt.Store(time.Now().UnixNano())
				close(p.ended)
			})
		}
	})
	video, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: o.MimeType, ClockRate: 90000}, "video", "vigil-test")
	if err != nil {
		return nil, err
	}
	sendonly := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}
	vt, err := pc.AddTransceiverFromTrack(video, sendonly)
	if err != nil {
		return nil, err
	}
	p.wg.Go(func() { p.readRTCP(vt.Sender()) })
	var audio *webrtc.TrackLocalStaticSample
	if o.Audio {
		audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "vigil-test")
		if err != nil {
			return nil, err
		}
		at, err := pc.AddTransceiverFromTrack(audio, sendonly)
		if err != nil {
			return nil, err
		}
		p.wg.Go(func() { p.readRTCP(at.Sender()) })
	}
	answer, location, err := offer(pc, endpoint, o.Token)
	if err != nil {
		return nil, err
	}
	p.Location = location
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return nil, err
	}
	p.wg.Go(func() { p.send(video, audio, frames) })
	return p, nil
}

// offer makes pc's offer with every candidate, posts it and returns the
// answer and the absolute session URL.
func offer(pc *webrtc.PeerConnection, endpoint, token string) (string, string, error) {
	sdp, err := pc.CreateOffer(nil)
	if err != nil {
		return "", "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(sdp); err != nil {
		return "", "", err
	}
	<-gathered
	return PostSDP(endpoint, token, pc.LocalDescription().SDP)
}

// PostSDP posts an SDP offer and returns the answer and the absolute
// Location; a status other than 201 is a *StatusError.
func PostSDP(endpoint, token, sdp string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(sdp))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", "", &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", "", err
	}
	return string(body), loc.String(), nil
}

func (p *WHIPPublisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			if _, ok := pkt.(*rtcp.PictureLossIndication); ok {
				p.plis.Add(1)
			}
		}
	}
}

func (p *WHIPPublisher) send(video, audio *webrtc.TrackLocalStaticSample, frames []Frame) {
	silence := []byte{0xf8, 0xff, 0xfe} // an Opus frame of silence
	tick := time.NewTicker(frameInterval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-p.stop:
			return
		case <-p.ended:
			return
		case <-tick.C:
		}
		_ = video.WriteSample(media.Sample{Data: frames[i%len(frames)].Data, Duration: frameInterval})
		if audio != nil && i%2 == 0 {
			_ = audio.WriteSample(media.Sample{Data: silence, Duration: 2 * frameInterval})
		}
	}
}

// PLIs is the number of picture loss indications the server sent.
func (p *WHIPPublisher) PLIs() int64 { return p.plis.Load() }

// Ended is closed when the peer connection closed or failed.
func (p *WHIPPublisher) Ended() <-chan struct{} { return p.ended }

// EndedAt is when the connection ended; valid after Ended.
func (p *WHIPPublisher) EndedAt() time.Time { return time.Unix(0, p.endedAt.Load()) }

// Close stops sending and closes the peer connection.
func (p *WHIPPublisher) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	_ = p.PC.Close()
	p.wg.Wait()
}

// WHEPServer is a pion WHEP server offering one clip, looped, to every
// viewer, on 127.0.0.1.
type WHEPServer struct {
	// URL is the WHEP endpoint.
	URL string
	// Refuse, while positive, makes each POST fail with 503 and
	// decrements it (to test reconnection).
	Refuse atomic.Int32

	tb     testing.TB
	mime   string
	frames []Frame
	srv    *httptest.Server
	posts  atomic.Int32

	mu       sync.Mutex
	ended    bool
	sessions map[string]*WHIPPublisher
}

// ServeWHEP starts a WHEP server offering frames of codec mime at /whep.
// The test's cleanup stops it.
func ServeWHEP(tb testing.TB, mime string, frames []Frame) *WHEPServer {
	tb.Helper()
	s := &WHEPServer{tb: tb, mime: mime, frames: frames, sessions: make(map[string]*WHIPPublisher)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /whep", s.post)
	mux.HandleFunc("DELETE /whep/{id}", s.delete)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/whep"
	tb.Cleanup(s.Close)
	return s
}

// Posts is the number of offers received.
func (s *WHEPServer) Posts() int { return int(s.posts.Load()) }

// Viewers is the number of live sessions.
func (s *WHEPServer) Viewers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// EndSource ends the stream: every session is closed and later offers get
// 404, as an origin answers once its publisher has left.
func (s *WHEPServer) EndSource() {
	s.mu.Lock()
	s.ended = true
	sessions := s.sessions
	s.sessions = map[string]*WHIPPublisher{}
	s.mu.Unlock()
	for _, p := range sessions {
		p.Close()
	}
}

// Close stops the server and every session.
func (s *WHEPServer) Close() {
	s.EndSource()
	s.srv.Close()
}

func (s *WHEPServer) post(w http.ResponseWriter, r *http.Request) {
	s.posts.Add(1)
	if s.Refuse.Load() > 0 {
		s.Refuse.Add(-1)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		http.Error(w, "no such stream", http.StatusNotFound)
		return
	}
	offerSDP, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pc, err := LoopbackAPI(s.tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := &WHIPPublisher{PC: pc, ended: make(chan struct{}), stop: make(chan struct{})}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed {
			p.endOnce.Do(func() { close(p.ended) })
		}
	})
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: s.mime, ClockRate: 90000}, "video", "origin")
	if err == nil {
		var sender *webrtc.RTPSender
		if sender, err = pc.AddTrack(track); err == nil {
			p.wg.Go(func() { p.readRTCP(sender) })
		}
	}
	var answer webrtc.SessionDescription
	if err == nil {
		err = pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offerSDP)})
	}
	if err == nil {
		answer, err = pc.CreateAnswer(nil)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err == nil {
		err = pc.SetLocalDescription(answer)
	}
	if err != nil {
		p.Close()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	<-gathered
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.sessions[id] = p
	s.mu.Unlock()
	p.wg.Go(func() { p.send(track, nil, s.frames) })
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "/whep/"+id)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.Copy(w, bytes.NewBufferString(pc.LocalDescription().SDP))
}

func (s *WHEPServer) delete(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.sessions[r.PathValue("id")]
	delete(s.sessions, r.PathValue("id"))
	s.mu.Unlock()
	if p == nil {
		http.Error(w, "no such session", http.StatusNotFound)
		return
	}
	p.Close()
	w.WriteHeader(http.StatusOK)
}
