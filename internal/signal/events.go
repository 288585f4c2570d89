package signal

import "time"

// Event types and subjects besides blocks. They are stored in one
// JetStream stream, StreamEvents, apart from blocks: they are many more,
// kept for less time, and published best-effort (a node drops them rather
// than wait), while blocks are never dropped.
const (
	// TypeMatch is a sample that matched the index without (yet) making
	// the stream's verdict: a review queue's input.
	TypeMatch = "vigil.match.v1"
	// SubjectMatchPrefix prefixes the stream id in a match's subject.
	SubjectMatchPrefix = "vigil.match."

	TypeStreamStarted = "vigil.stream.started.v1"
	TypeStreamEnded   = "vigil.stream.ended.v1"
	TypeStreamRefused = "vigil.stream.refused.v1"

	SubjectStreamStarted = "vigil.stream.started"
	SubjectStreamEnded   = "vigil.stream.ended"
	SubjectStreamRefused = "vigil.stream.refused"

	// StreamEvents is the JetStream stream of match and stream events.
	StreamEvents = "VIGIL_EVENTS"
)

// EventSubjects are the subjects StreamEvents holds.
var EventSubjects = []string{SubjectMatchPrefix + ">", "vigil.stream.>"}

// MatchEvent reports one matching sample.
type MatchEvent = CloudEvent[MatchData]

// MatchData is a sample that matched, with every entry it matched (nearest
// first) and the policy it did not (yet) satisfy.
type MatchData struct {
	Stream  StreamRef `json:"stream"`
	Matches []Match   `json:"matches"`
	Policy  *Policy   `json:"policy,omitempty"`
}

// StreamEvent reports a stream starting, ending, or being refused.
type StreamEvent = CloudEvent[StreamData]

// StreamData says what runs where: a stream that started, ended or was
// refused at admission.
type StreamData struct {
	Stream StreamRef `json:"stream"`
	// Reason is a short code: for ended, "publisher" (the publisher or
	// source ended it), "blocked", "shutdown", "unsupported" or "error";
	// for refused, "blocklisted" or "refused".
	Reason string `json:"reason,omitempty"`
	// Detail is the reason in words.
	Detail  string       `json:"detail,omitempty"`
	EndedAt *time.Time   `json:"ended_at,omitempty"`
	Stats   *StreamStats `json:"stats,omitempty"`
}

// StreamStats are an ended stream's totals.
type StreamStats struct {
	DurationSeconds float64 `json:"duration_seconds"`
	Units           uint64  `json:"units"`
	Decoded         uint64  `json:"decoded"`
	Samples         uint64  `json:"samples"`
	Matches         int     `json:"matches"`
}

// NewMatchEvent wraps d in a CloudEvent from source.
func NewMatchEvent(source string, d MatchData) MatchEvent {
	return newEvent(TypeMatch, source, d.Stream.ID, d)
}

// NewStreamEvent wraps d in a CloudEvent of type typ (TypeStreamStarted,
// TypeStreamEnded or TypeStreamRefused) from source.
func NewStreamEvent(typ, source string, d StreamData) StreamEvent {
	return newEvent(typ, source, d.Stream.ID, d)
}

// MatchSubject is the NATS subject of a match event for stream id.
func MatchSubject(streamID string) string { return SubjectMatchPrefix + streamID }

// StreamSubject is the NATS subject of a stream event of type typ.
func StreamSubject(typ string) string {
	switch typ {
	case TypeStreamStarted:
		return SubjectStreamStarted
	case TypeStreamEnded:
		return SubjectStreamEnded
	default:
		return SubjectStreamRefused
	}
}
