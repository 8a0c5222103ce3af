package emulator

import (
	"bytes"
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

func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=msklink,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("n,a=x,n=msklink,r=abc"), []byte("c=biws"))
	f.Add([]byte("p=tls-unique,,n=a,r=b"), []byte(""))
	c := &Cluster{scram: map[string]SCRAMUser{"msklink": {Username: "msklink", Password: "pw", Mechanism: mechSCRAM512}}}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		x, out, err := c.scramFirst(mechSCRAM512, first)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte("r=")) {
			t.Fatalf("server-first %q", out)
		}
		if _, err := x.final(final); err == nil {
			t.Fatal("a fuzzed proof was accepted")
		}
	})
}
