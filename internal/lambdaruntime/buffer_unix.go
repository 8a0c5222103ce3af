//go:build unix

package lambdaruntime

import "syscall"

// eventBuffer returns an empty buffer with room for the largest event
// Lambda sends a function (maxEvent), mapped anonymously outside the Go
// heap: the kernel backs a page only when an event first reaches it, so
// the buffer costs the resident memory of the largest event read so far,
// and the garbage collector neither scans it nor counts it toward its
// goal. Reading an event of unknown length (the Runtime API sends events
// chunked) into it costs the event's size once, where a growing Go buffer
// costs it about twice. nil when the mapping fails: readBody then
// allocates on the Go heap.
func eventBuffer() []byte {
	b, err := syscall.Mmap(-1, 0, maxEvent, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil
	}
	return b[:0]
}
