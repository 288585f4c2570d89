package rtmp

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

var errInitBudget = errors.New("rtmp: too many bytes before the first video track was known")

// budgetConn limits what a connection may send before its tracks are known:
// gortmplib buffers everything it reads while probing tracks, so without a
// budget a publisher could make the node hold gigabytes.
type budgetConn struct {
	net.Conn
	left    atomic.Int64
	limited atomic.Bool
}

func newBudgetConn(c net.Conn, budget int64) *budgetConn {
	b := &budgetConn{Conn: c}
	b.left.Store(budget)
	b.limited.Store(budget > 0)
	return b
}

// lift removes the budget once the stream's tracks are known.
func (b *budgetConn) lift() { b.limited.Store(false) }

func (b *budgetConn) Read(p []byte) (int, error) {
	if b.limited.Load() {
		left := b.left.Load()
		if left <= 0 {
			return 0, fmt.Errorf("%w (%s)", errInitBudget, b.RemoteAddr())
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := b.Conn.Read(p)
	b.left.Add(-int64(n))
	return n, err
}
