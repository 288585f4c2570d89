package node

import (
	"context"

	"github.com/vigilstream/vigil/ingest"
)

// blocklisted refuses publishers whose key or address a block has named.
// The blocklist arrives with the fleet's KV bucket; until then it is empty.
func (n *Node) blocklisted(_ context.Context, _ ingest.Request) error { return nil }
