// Package kafkawire reads and writes Kafka's wire format at the level a
// gateway needs: size-prefixed frames with bounded reads, request headers
// parsed without decoding the body, and kmsg requests and responses
// encoded to or decoded from whole frames.
//
// It is shared by the emulator's MSK front and the IAM proxy, both of
// which forward most frames unchanged and decode only the few they answer
// or rewrite. The functions are pure and safe for concurrent use; a
// FrameReader belongs to one reading loop, and a BufferPool, which lends
// FrameReaders the buffers of large frames, is safe for concurrent use.
package kafkawire
