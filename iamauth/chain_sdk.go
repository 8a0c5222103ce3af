//go:build !msklink.envcreds

package iamauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// sdkOpts are the options of WithLoadOptions.
type sdkOpts []func(*config.LoadOptions) error

// WithLoadOptions passes options to config.LoadDefaultConfig when the
// Provider loads the AWS config (default chain, profile, roles). A binary
// built with the msklink.envcreds tag has no such loader, and no
// WithLoadOptions.
func WithLoadOptions(opts ...func(*config.LoadOptions) error) Opt {
	return func(c *providerConfig) { c.sdk = append(c.sdk, opts...) }
}

// baseConfig loads the AWS config the credentials and, when region is
// empty, the region come from: the SDK's default chain (environment,
// shared config and credentials files, SSO, web identity, ECS and EC2
// roles), or the named profile. It returns the config and where its
// credentials come from, for errors.
func baseConfig(ctx context.Context, cfg *providerConfig, region string) (aws.Config, string, error) {
	loadOpts := append([]func(*config.LoadOptions) error{}, cfg.sdk...)
	source := "the default credential chain"
	if cfg.profile != "" {
		loadOpts = append(loadOpts, config.WithSharedConfigProfile(cfg.profile))
		source = fmt.Sprintf("profile %q", cfg.profile)
	}
	if region != "" {
		loadOpts = append(loadOpts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		var notExist config.SharedConfigProfileNotExistError
		if errors.As(err, &notExist) {
			return aws.Config{}, "", fmt.Errorf("iamauth: AWS profile %q not found in the shared config files (~/.aws/config, ~/.aws/credentials): check the name, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE", notExist.Profile)
		}
		return aws.Config{}, "", fmt.Errorf("iamauth: loading the AWS config: %s", oneLine(err))
	}
	return awsCfg, source, nil
}
