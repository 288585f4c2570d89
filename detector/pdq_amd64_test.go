//go:build !purego

package detector

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// forEachKernelSet runs f with each set of kernels this CPU can run: SSE2
// always, AVX2 where present.
func forEachKernelSet(t *testing.T, f func(t *testing.T)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	useAVX2 = false
	t.Run("sse2", f)
	if cpu.X86.HasAVX2 {
		useAVX2 = true
		t.Run("avx2", f)
	}
}
