package signal

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// CloudEvents attributes of Vigil's events.
const (
	SpecVersion = "1.0"
	// TypeBlock is the CloudEvents type of a block signal.
	TypeBlock = "vigil.block.v1"
	// SubjectBlockPrefix prefixes the stream id in a block's NATS subject.
	SubjectBlockPrefix = "vigil.block."
	// StreamBlocks is the JetStream stream that stores block signals.
	StreamBlocks = "VIGIL_BLOCKS"
	// MaxEventBytes bounds an event this package publishes or accepts.
	MaxEventBytes = 256 << 10
)

// Reasons a block gives.
const (
	ReasonMatch  = "match"
	ReasonManual = "manual"
)

// Event is a CloudEvents 1.0 event in structured JSON mode whose data is a
// block.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	Type            string    `json:"type"`
	Source          string    `json:"source"`
	ID              string    `json:"id"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject,omitempty"`
	DataContentType string    `json:"datacontenttype"`
	Data            Block     `json:"data"`
}

// Block tells nodes and enforcement services to end a stream.
type Block struct {
	Stream    StreamRef  `json:"stream"`
	Reason    string     `json:"reason"`
	Note      string     `json:"note,omitempty"`
	Matches   []Match    `json:"matches,omitempty"`
	Policy    *Policy    `json:"policy,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// StreamRef names the stream a block is about.
type StreamRef struct {
	ID         string     `json:"id"`
	Name       string     `json:"name,omitempty"`
	Session    string     `json:"session,omitempty"`
	Protocol   string     `json:"protocol,omitempty"`
	RemoteAddr string     `json:"remote_addr,omitempty"`
	Node       string     `json:"node,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
}

// Match is one list entry a sampled frame matched.
type Match struct {
	List       string   `json:"list"`
	ID         string   `json:"id"`
	Label      string   `json:"label,omitempty"`
	Algorithm  string   `json:"algorithm"`
	Distance   int      `json:"distance"`
	StreamTime float64  `json:"stream_time"`
	Hash       string   `json:"hash"`
	Quality    int      `json:"quality"`
	EntryTime  *float64 `json:"entry_time,omitempty"`
}

// Policy is the decision policy that fired.
type Policy struct {
	Name          string         `json:"name"`
	MinMatches    int            `json:"min_matches"`
	WindowSeconds float64        `json:"window_seconds"`
	MaxDistance   map[string]int `json:"max_distance,omitempty"`
	MinQuality    int            `json:"min_quality"`
}

// NewBlockEvent wraps b in a CloudEvent from source with a fresh id.
func NewBlockEvent(source string, b Block) Event {
	return Event{
		SpecVersion:     SpecVersion,
		Type:            TypeBlock,
		Source:          source,
		ID:              NewEventID(),
		Time:            time.Now().UTC(),
		Subject:         b.Stream.ID,
		DataContentType: "application/json",
		Data:            b,
	}
}

// NewEventID returns a random 128-bit event id in hex.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// BlockSubject is the NATS subject of a block for stream id.
func BlockSubject(streamID string) string { return SubjectBlockPrefix + streamID }
