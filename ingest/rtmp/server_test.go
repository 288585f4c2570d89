package rtmp

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vigilstream/vigil/ingest"
)

func TestExplainTrackError(t *testing.T) {
	err := explainTrackError(fmt.Errorf("unsupported video codec: 2"))
	if !errors.Is(err, ingest.ErrUnsupportedMedia) || !strings.Contains(err.Error(), "Sorenson H.263") || !strings.Contains(err.Error(), "H.264") {
		t.Fatalf("err = %v", err)
	}
	err = explainTrackError(errors.New("EOF"))
	if errors.Is(err, ingest.ErrUnsupportedMedia) || !strings.Contains(err.Error(), "reading tracks: EOF") {
		t.Fatalf("err = %v", err)
	}
}
