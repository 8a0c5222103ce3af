package deploytmpl

import (
	"testing"

	"github.com/msklink/msklink/internal/deploycheck"
)

// TestVariantsPassDeployCheck runs msklink deploy check's checks on every
// variant the tests render (a variant added to variants() is checked
// too): no finding, not even a warning.
func TestVariantsPassDeployCheck(t *testing.T) {
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			_, b := render(t, p)
			fs, err := deploycheck.Check(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				t.Errorf("%s", f)
			}
		})
	}
}
