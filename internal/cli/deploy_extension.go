package cli

import (
	"flag"
	"path/filepath"

	"github.com/msklink/msklink/internal/deploytmpl"
)

const deployExtensionUsage = `
With --extension --runtime python3.13|nodejs22.x it writes a function in
that language (examples/extension-python or examples/extension-node) with
the msklink Lambda extension as a layer: the function's Kafka client
connects to 127.0.0.1:9092 without TLS or SASL and the extension connects
to MSK with IAM (port 9098), in the cluster's VPC, with the same security
group rules, least-privilege role and log group (docs/EXTENSION.md).`

// extensionFlags are deploy template's --extension and --runtime.
type extensionFlags struct {
	on      bool
	runtime string
}

func addExtensionFlags(fs *flag.FlagSet) *extensionFlags {
	x := &extensionFlags{}
	fs.BoolVar(&x.on, "extension", false, "a function in another language with the msklink extension as a layer (with --runtime)")
	fs.StringVar(&x.runtime, "runtime", "", "with --extension: python3.13 or nodejs22.x")
	return x
}

// render writes the extension template for p (deploy template
// --extension).
func (x *extensionFlags) render(e *env, p deploytmpl.Params, out string) error {
	if x.runtime == "" {
		return usagef("deploy template: --extension needs --runtime python3.13 or nodejs22.x")
	}
	if p.Format == deploytmpl.FormatSAM && out != "" {
		if err := checkSAMPlaceTarget(out, "build-MsklinkExtensionLayer"); err != nil {
			return err
		}
	}
	b, err := deploytmpl.RenderExtension(p, x.runtime)
	return writeTemplate(e, out, b, err)
}

// checkSAMPlaceTarget is checkSAMPlace for the Makefile target target.
func checkSAMPlaceTarget(out, target string) error {
	dir := filepath.Dir(out)
	if hasMakeTarget(dir, target) {
		return nil
	}
	return usagef("deploy template: -o %q: a SAM template is built from where it is, and %s has no Makefile with %s under a go.mod: write it into msklink's deploy/ directory (-o deploy/NAME.yaml), or use --format cloudformation", out, dir, target)
}
