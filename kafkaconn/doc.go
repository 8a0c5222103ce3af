// Package kafkaconn turns one Config into a franz-go client configured for
// Amazon MSK: TLS, SASL (IAM through package iamauth, or SCRAM), timeouts,
// acks and idempotence, and an slog logger.
//
// Every part of msklink (library users, the Lambda function, the CLI, the
// doctor) reads its connection settings through Config, so the rules MSK
// users get wrong live in one place: Validate checks the auth mode against
// MSK's port layout, the region against the broker host names, MSK
// Serverless's IAM-only rule, and the addresses themselves, and says what to
// change.
//
// FromEnv reads a Config from the MSK_* environment variables (see
// FromEnv's documentation for the list).
//
// Config is a plain value; NewClient is safe to call concurrently.
package kafkaconn
