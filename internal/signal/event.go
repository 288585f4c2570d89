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
	// TargetToken is the last subject token of a block that names no
	// stream, only a key or an address: vigil.block.%target. A stream id
	// never holds '%' without two hex digits after it, so no stream's
	// subject can collide with it.
	TargetToken = "%target"
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

// CloudEvent is a CloudEvents 1.0 event in structured JSON mode with data
// of type T.
type CloudEvent[T any] struct {
	SpecVersion     string    `json:"specversion"`
	Type            string    `json:"type"`
	Source          string    `json:"source"`
	ID              string    `json:"id"`
	Time            time.Time `json:"time"`
	Subject         string    `json:"subject,omitempty"`
	DataContentType string    `json:"datacontenttype"`
	Data            T         `json:"data"`
}

// Event is a block signal.
type Event = CloudEvent[Block]

// Block tells nodes and enforcement services to end a stream, and with a
// Target, to refuse a stream key or an address for a while.
type Block struct {
	// Stream is the stream to end. A block may leave it out when it has a
	// Target.
	Stream    StreamRef  `json:"stream,omitzero"`
	Target    *Target    `json:"target,omitempty"`
	Reason    string     `json:"reason"`
	Note      string     `json:"note,omitempty"`
	Matches   []Match    `json:"matches,omitempty"`
	Policy    *Policy    `json:"policy,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// Target names what a block puts on the fleet's blocklist: every hosted
// stream presenting the key or coming from the address ends, and a
// publisher presenting either is refused at connect time on every node
// until the entry expires.
type Target struct {
	// Key is a stream key in clear. Trusted issuers that know it may use
	// it; nodes hash it at once and never store or republish it.
	Key string `json:"key,omitempty"`
	// KeySHA256 is the hex SHA-256 of a stream key, as stream events and
	// the node's own blocks carry it.
	KeySHA256 string `json:"key_sha256,omitempty"`
	// RemoteAddr is an IP address (a host:port's port is ignored).
	RemoteAddr string `json:"remote_addr,omitempty"`
	// TTLSeconds is how long the entry lasts; 0 means the receiving
	// node's --blocklist-ttl.
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

// StreamRef names a stream.
type StreamRef struct {
	ID         string     `json:"id"`
	Name       string     `json:"name,omitempty"`
	Session    string     `json:"session,omitempty"`
	Protocol   string     `json:"protocol,omitempty"`
	RemoteAddr string     `json:"remote_addr,omitempty"`
	Node       string     `json:"node,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	// KeySHA256 is the hex SHA-256 of the stream key the publisher was
	// admitted with; never the key.
	KeySHA256 string `json:"key_sha256,omitempty"`
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
	subject := b.Stream.ID
	if subject == "" {
		subject = TargetToken
	}
	return newEvent(TypeBlock, source, subject, b)
}

func newEvent[T any](typ, source, subject string, data T) CloudEvent[T] {
	return CloudEvent[T]{
		SpecVersion:     SpecVersion,
		Type:            typ,
		Source:          source,
		ID:              NewEventID(),
		Time:            time.Now().UTC(),
		Subject:         subject,
		DataContentType: "application/json",
		Data:            data,
	}
}

// NewEventID returns a random 128-bit event id in hex.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// BlockSubject is the NATS subject of a block for stream id; a block that
// names no stream goes to vigil.block.%target.
func BlockSubject(streamID string) string {
	if streamID == "" {
		streamID = TargetToken
	}
	return SubjectBlockPrefix + streamID
}
