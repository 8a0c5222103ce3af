// Package iamauth creates and checks Amazon MSK IAM authentication tokens.
//
// MSK's IAM listener (port 9098, 9198 for public access) accepts two SASL
// mechanisms, and this package speaks both:
//
//   - OAUTHBEARER, whose bearer token is a SigV4-presigned URL for
//     https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect,
//     base64-encoded (raw URL alphabet, no padding). [NewToken] builds it byte
//     for byte as AWS's signer libraries do.
//   - AWS_MSK_IAM, a JSON document with the same SigV4 fields, signed for the
//     broker host. [NewPayload] builds it.
//
// A [Provider] is what a Kafka client uses: credentials resolved once and
// cached (never re-loaded per connection), tokens cached and renewed before
// they expire, where a token expires at the earlier of its 15 minutes and
// the credentials' own expiry. Its [Provider.OAuth] and [Provider.MSKIAM]
// mechanisms plug into franz-go's kgo.SASL.
//
// [Inspect] decodes a token for people (no secrets in its result), and
// [Verify] / [VerifyPayload] are the broker side, used by the local MSK
// emulator: they recompute the signature and say exactly which check failed.
//
// Secrets never reach a log: [SecretKey], [SessionToken] and [Token]
// implement slog.LogValuer with a redacted form.
//
// Design note: this package imports franz-go's small pkg/sasl packages so a
// Provider plugs into kgo.SASL directly; everything else is the standard
// library and aws-sdk-go-v2.
package iamauth
