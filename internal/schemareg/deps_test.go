package schemareg_test

import (
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestLambdaBinariesLinkNone: the publisher's bootstrap and the example
// consumer link no schema registry, Avro, Protobuf or JSON Schema code.
func TestLambdaBinariesLinkNone(t *testing.T) {
	for _, dir := range []string{"../../cmd/msklink-lambda", "../../examples/kafka-consumer"} {
		for _, d := range testutil.Deps(t, dir, "lambda.norpc") {
			for _, r := range []string{"internal/schemareg", "hamba/avro", "google.golang.org/protobuf", "jsonschema", "protocompile"} {
				if strings.Contains(d, r) {
					t.Errorf("%s links %s", dir, d)
				}
			}
		}
	}
}
