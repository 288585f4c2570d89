package detector

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestIdxAlignedBytesHuge: a big array starts on a huge-page boundary, is
// zeroed, and the kernel holds the advice for it (VmFlags "hg" in smaps;
// a kernel built without transparent huge pages has no such flag); a small
// one is cache-line aligned.
func TestIdxAlignedBytesHuge(t *testing.T) {
	b := idxAlignedBytes(idxHugeMin + 12345)
	if len(b) != idxHugeMin+12345 {
		t.Fatalf("len %d", len(b))
	}
	addr := uintptr(unsafe.Pointer(&b[0]))
	if addr%idxHugePage != 0 {
		t.Fatalf("big array at %#x, not on a 2 MiB boundary", addr)
	}
	for i := 0; i < len(b); i += 4096 {
		if b[i] != 0 {
			t.Fatalf("byte %d is %d, want zero", i, b[i])
		}
	}
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skipf("this kernel has no transparent huge pages (%v): nothing holds the advice", err)
	}
	flags, err := vmFlags(addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(" "+flags+" ", " hg ") {
		t.Fatalf("big array at %#x: VmFlags %q, want hg (huge pages advised)", addr, flags)
	}
	small := idxAlignedBytes(1000)
	if a := uintptr(unsafe.Pointer(&small[0])); a%idxAlign != 0 {
		t.Fatalf("small array at %#x, not on a cache line", a)
	}
}

// vmFlags returns the VmFlags of the mapping holding addr.
func vmFlags(addr uintptr) (string, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= addr && addr < hi
			continue
		}
		if rest, ok := strings.CutPrefix(line, "VmFlags:"); ok && in {
			return strings.TrimSpace(rest), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no mapping holds %#x", addr)
}
