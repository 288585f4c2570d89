package rtmp

import (
	"errors"
	"fmt"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/message"
)

// errCodecSwitch ends a stream whose publisher switches video codec
// mid-stream: the decoder was made for the first one, and gortmplib would
// hand the new codec's data to the old codec's callback.
var errCodecSwitch = errors.New("rtmp: video codec changed mid-stream")

// codecGuard sits between gortmplib's reader and the connection and, once
// the video codec is known, refuses video messages of any other codec.
type codecGuard struct {
	gortmplib.Conn
	legacy uint8          // FLV codec id for legacy video messages, 0 when none
	fourCC message.FourCC // enhanced RTMP codec
	armed  bool
}

func (g *codecGuard) expect(c codecs.Codec) {
	switch c.(type) {
	case *codecs.H264:
		g.legacy, g.fourCC = message.CodecH264, message.FourCCAVC
	case *codecs.H265:
		g.legacy, g.fourCC = message.CodecH265, message.FourCCHEVC
	case *codecs.VP9:
		g.fourCC = message.FourCCVP9
	case *codecs.AV1:
		g.fourCC = message.FourCCAV1
	}
	g.armed = true
}

func (g *codecGuard) Read() (message.Message, error) {
	msg, err := g.Conn.Read()
	if err != nil || !g.armed {
		return msg, err
	}
	if m, ok := msg.(*message.VideoExMultitrack); ok {
		msg = m.Wrapped
	}
	var got string
	switch m := msg.(type) {
	case *message.Video:
		if m.Codec != g.legacy {
			got = fmt.Sprintf("FLV codec id %d", m.Codec)
		}
	case *message.VideoExSequenceStart:
		got = fourCC(m.FourCC, g.fourCC)
	case *message.VideoExCodedFrames:
		got = fourCC(m.FourCC, g.fourCC)
	case *message.VideoExFramesX:
		got = fourCC(m.FourCC, g.fourCC)
	}
	if got != "" {
		return nil, fmt.Errorf("%w: now %s", errCodecSwitch, got)
	}
	return msg, err
}

func fourCC(got, want message.FourCC) string {
	if got == want {
		return ""
	}
	return fmt.Sprintf("%q", []byte{byte(got >> 24), byte(got >> 16), byte(got >> 8), byte(got)})
}
