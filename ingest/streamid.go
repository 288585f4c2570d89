package ingest

import (
	"fmt"
	"strings"
)

// MaxStreamNameBytes bounds stream names: they end up in NATS subjects,
// metrics labels and log lines.
const MaxStreamNameBytes = 128

// StreamID turns a publisher-chosen stream name into the node's id for it:
// safe as one NATS subject token (no '.', '*', '>', spaces or controls) and
// distinct for distinct names. Letters, digits, '-' and '_' stay; every other
// byte becomes %XX.
func StreamID(name string) (string, error) {
	if name == "" || len(name) > MaxStreamNameBytes {
		return "", fmt.Errorf("%w: %d bytes (1 to %d allowed)", ErrBadStreamName, len(name), MaxStreamNameBytes)
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String(), nil
}
