package emulator

import (
	"testing"
)

func FuzzOAuthClientFirst(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer abc\x01\x01"))
	f.Add([]byte("n,a=user,\x01auth=Bearer abc\x01host=x\x01\x01"))
	f.Add([]byte("y,,\x01\x01"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tok, err := parseOAuthClientFirst(in)
		if err == nil && tok == "" {
			t.Fatal("empty token without error")
		}
	})
}
