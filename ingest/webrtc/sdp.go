package webrtc

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxMediaSections bounds the m= sections of an offer: each costs a
// transceiver.
const maxMediaSections = 16

// videoCodecNames are the rtpmap encoding names the node can take.
var videoCodecNames = []string{"H264", "VP8", "VP9", "AV1"}

// checkOffer parses an SDP offer and reports, before pion spends anything
// on it, why it cannot carry a stream the node can watch.
func checkOffer(raw []byte) error {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(string(raw)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return fmt.Errorf("%w: no media sections", ErrBadOffer)
	}
	if len(d.MediaDescriptions) > maxMediaSections {
		return fmt.Errorf("%w: %d media sections (at most %d)", ErrBadOffer, len(d.MediaDescriptions), maxMediaSections)
	}
	var offered []string
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 || !sends(m) {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, enc, _ := strings.Cut(a.Value, " ")
			name, _, _ := strings.Cut(enc, "/")
			for _, want := range videoCodecNames {
				if strings.EqualFold(name, want) {
					return nil
				}
			}
			if len(offered) < 8 {
				offered = append(offered, name)
			}
		}
	}
	if len(offered) > 0 {
		return fmt.Errorf("%w: offered video codecs %s; this node takes H.264, VP8, VP9 and AV1", ErrNoVideo, strings.Join(offered, ", "))
	}
	return fmt.Errorf("%w: the offer sends no video", ErrNoVideo)
}

// sends reports whether a media section sends media to the answerer.
func sends(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			return false
		}
	}
	return true
}

// answerReceivesVideo reports whether an answer accepted a video section.
func answerReceivesVideo(raw string) bool {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key == "recvonly" || a.Key == "sendrecv" {
				return true
			}
		}
	}
	return false
}
