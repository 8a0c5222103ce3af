//go:build msklink.envcreds

package iamauth

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// sdkOpts is empty: this build has no SDK config loader.
type sdkOpts []struct{}

// baseConfig, in a binary built with the msklink.envcreds tag, takes the
// credentials from the environment only (see envConfig): such a binary
// does not link the SDK's config loader and the SSO, SSO-OIDC, sign-in
// and IMDS clients it brings, about 2.7 MB of resident memory in the
// Lambda bootstrap, where Lambda always puts the role's credentials in
// the environment.
func baseConfig(_ context.Context, cfg *providerConfig, region string) (aws.Config, string, error) {
	return envConfig(os.Getenv, cfg, region)
}
