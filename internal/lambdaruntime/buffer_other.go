//go:build !unix

package lambdaruntime

// eventBuffer returns nil: readBody allocates each buffer on the Go heap.
func eventBuffer() []byte { return nil }
