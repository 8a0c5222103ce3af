package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/msklink/msklink/iamauth"
)

const tokenUsage = `[--region R | --broker HOST] [--profile P] [--role-arn ARN [--external-id X] [--session-name S] [--web-identity-token-file F]] [--json]

Prints an MSK IAM authentication token for the current credentials
(the default chain, --profile or --role-arn), signed for the region.`

const tokenInspectUsage = `[--json] TOKEN|-

Decodes a token (- reads it from stdin): host, region, access key id,
signing time, expiry, whether it expired, user agent, whether it carries a
session token. Never a secret.`

func runToken(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token", tokenUsage)
	region := fs.String("region", "", "AWS region of the cluster (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's region)")
	broker := fs.String("broker", "", "an MSK broker host to take the region from")
	profile := fs.String("profile", "", "shared config profile for credentials (default: $AWS_PROFILE, else the default chain)")
	roleARN := fs.String("role-arn", "", "assume this IAM role for the token")
	externalID := fs.String("external-id", "", "external id for --role-arn")
	sessionName := fs.String("session-name", "msklink", "STS session name for --role-arn")
	webID := fs.String("web-identity-token-file", "", "OIDC token file for --role-arn (AssumeRoleWithWebIdentity)")
	asJSON := fs.Bool("json", false, "print token, expiry, region and access key id as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("token: unexpected argument %q (did you mean 'msklink token inspect'?)", pos[0])
	}
	if *externalID != "" && *roleARN == "" {
		return usagef("token: --external-id needs --role-arn")
	}
	if *region != "" {
		if err := iamauth.ValidateRegion(*region); err != nil {
			return usagef("token: --region: %v", err)
		}
	}
	opts := []iamauth.Opt{iamauth.WithRegion(*region), iamauth.WithBrokerHost(*broker), iamauth.WithProfile(*profile),
		iamauth.WithRoleARN(*roleARN), iamauth.WithExternalID(*externalID), iamauth.WithSessionName(*sessionName), iamauth.WithWebIdentity(*webID),
		iamauth.WithUserAgent("msklink-cli/" + Version)}
	p, err := iamauth.New(ctx, opts...)
	if err != nil {
		return err
	}
	tok, expires, err := p.Token(ctx)
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintln(e.stdout, string(tok))
		return nil
	}
	info, err := iamauth.Inspect(string(tok))
	if err != nil {
		return err
	}
	return writeJSON(e.stdout, struct {
		Token       string `json:"token"`
		Expires     string `json:"expires"`
		ExpiresMs   int64  `json:"expires_ms"`
		Region      string `json:"region"`
		AccessKeyID string `json:"access_key_id"`
	}{string(tok), expires.UTC().Format(time.RFC3339), expires.UnixMilli(), p.Region(), info.AccessKeyID})
}

func runTokenInspect(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "token inspect", tokenInspectUsage)
	asJSON := fs.Bool("json", false, "print the decoded token as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("token inspect: want one TOKEN argument, or - to read it from stdin")
	}
	tok := pos[0]
	if tok == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return fmt.Errorf("reading the token from stdin: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	info, err := iamauth.Inspect(tok)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, info)
	}
	expiry := "valid for " + time.Until(info.Expires).Round(time.Second).String()
	if info.Expired {
		expiry = "EXPIRED " + time.Since(info.Expires).Round(time.Second).String() + " ago"
	}
	fmt.Fprintf(e.stdout, "host:           %s\nregion:         %s\naction:         %s\naccess key id:  %s\nsigned at:      %s\nexpires:        %s (%s)\nsession token:  %s\nuser agent:     %s\n",
		info.Host, info.Region, info.Action, info.AccessKeyID, info.SignedAt.Format(time.RFC3339), info.Expires.Format(time.RFC3339), expiry,
		map[bool]string{true: "present", false: "absent"}[info.HasSessionToken], info.UserAgent)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
