package iamauth

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// envSource names the environment credentials in errors.
const envSource = "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)"

// envConfig is the AWS config of a binary built with the msklink.envcreds
// tag: credentials from AWS_ACCESS_KEY_ID (or AWS_ACCESS_KEY),
// AWS_SECRET_ACCESS_KEY (or AWS_SECRET_KEY) and AWS_SESSION_TOKEN, as the
// SDK's environment step reads them, and the given region. A profile
// cannot be loaded without the shared config files, so WithProfile is an
// error that says how to get it back. Missing credentials are reported by
// the first Token (Provider.Credentials), as with the default chain.
func envConfig(getenv func(string) string, cfg *providerConfig, region string) (aws.Config, string, error) {
	if cfg.profile != "" {
		return aws.Config{}, "", errors.New("iamauth: this binary was built with the msklink.envcreds tag and reads credentials from the environment only, so it cannot load AWS profile " + `"` + cfg.profile + `"` + ": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or build without the tag")
	}
	c := aws.Credentials{
		AccessKeyID:     firstEnv(getenv, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
		SecretAccessKey: firstEnv(getenv, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
		Source:          "EnvironmentVariables",
	}
	// Empty credentials are left to Provider.Credentials, which rejects
	// them whatever their source.
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil })
	return aws.Config{Region: region, Credentials: creds}, envSource, nil
}

func firstEnv(getenv func(string) string, keys ...string) string {
	for _, k := range keys {
		if v := getenv(k); v != "" {
			return v
		}
	}
	return ""
}
