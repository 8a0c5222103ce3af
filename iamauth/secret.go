package iamauth

import "log/slog"

// SecretKey is an AWS secret access key. It logs as "REDACTED".
type SecretKey string

// LogValue implements slog.LogValuer: a secret key never reaches a log.
func (SecretKey) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// SessionToken is an AWS session token (temporary credentials). It logs as
// "REDACTED".
type SessionToken string

// LogValue implements slog.LogValuer: a session token never reaches a log.
func (SessionToken) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// Token is an MSK IAM OAUTHBEARER token. Anyone holding it can connect as
// its principal until it expires, so it logs as "REDACTED"; use [Inspect]
// to see what is in it.
type Token string

// LogValue implements slog.LogValuer: a token never reaches a log.
func (Token) LogValue() slog.Value { return slog.StringValue("REDACTED") }
