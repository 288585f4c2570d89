package detector

import "golang.org/x/sys/unix"

// idxAdviseHuge asks for transparent huge pages under b. It is advice: a
// kernel without them, or set to never, leaves 4 KiB pages, and that is
// only slower.
func idxAdviseHuge(b []byte) {
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
}
