package webrtc

import (
	"testing"

	pion "github.com/pion/webrtc/v4"
	"github.com/vigilstream/vigil/internal/testenv"
)

// deadOffer returns a valid WHIP offer (video and audio, sendonly) whose
// ICE candidates lead nowhere: the peer that made it is gone.
func deadOffer(t *testing.T) string {
	t.Helper()
	pc, err := testenv.LoopbackAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}
