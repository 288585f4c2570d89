package sampler

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	SilenceFFmpegLogs()
	goleak.VerifyTestMain(m)
}
