package kafkaesm

import (
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestCodecsLinkedApart: a function reading JSON links neither Avro nor
// Protobuf; each decoder package links only its own library.
func TestCodecsLinkedApart(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		refused []string
	}{
		{".", []string{"hamba/avro", "google.golang.org/protobuf"}},
		{"./avro", []string{"google.golang.org/protobuf"}},
		{"./protobuf", []string{"hamba/avro"}},
	} {
		for _, d := range testutil.Deps(t, tc.dir, "") {
			for _, r := range tc.refused {
				if strings.Contains(d, r) {
					t.Errorf("%s links %s", tc.dir, d)
				}
			}
		}
	}
}
