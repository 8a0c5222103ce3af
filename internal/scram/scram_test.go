package scram

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	fscram "github.com/twmb/franz-go/pkg/sasl/scram"
)

func passwords(m map[string]string) func(string) (string, bool) {
	return func(u string) (string, bool) { pw, ok := m[u]; return pw, ok }
}

// exchange runs franz-go's SCRAM client against Start and Final.
func exchange(t *testing.T, mech sasl.Mechanism, users map[string]string) error {
	t.Helper()
	sess, first, err := mech.Authenticate(context.Background(), "broker:9096")
	if err != nil {
		t.Fatal(err)
	}
	x, serverFirst, err := Start(mech.Name(), first, passwords(users))
	if err != nil {
		return err
	}
	done, final, err := sess.Challenge(serverFirst)
	if err != nil || done {
		t.Fatalf("client on server-first: done %v, err %v", done, err)
	}
	serverFinal, err := x.Final(final)
	if err != nil {
		return err
	}
	if done, _, err := sess.Challenge(serverFinal); err != nil || !done {
		t.Fatalf("client rejected the server signature: done %v, err %v", done, err)
	}
	return nil
}

func TestExchange(t *testing.T) {
	users := map[string]string{"alice": "secret", "we,ird=": "pw"}
	for _, tc := range []struct {
		name    string
		mech    sasl.Mechanism
		wantErr bool
	}{
		{"sha512", fscram.Auth{User: "alice", Pass: "secret"}.AsSha512Mechanism(), false},
		{"sha256", fscram.Auth{User: "alice", Pass: "secret"}.AsSha256Mechanism(), false},
		{"escaped user", fscram.Auth{User: "we,ird=", Pass: "pw"}.AsSha512Mechanism(), false},
		{"wrong password", fscram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(), true},
		{"unknown user", fscram.Auth{User: "bob", Pass: "secret"}.AsSha512Mechanism(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exchange(t, tc.mech, users)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrFailed) {
				t.Errorf("error %v does not wrap ErrFailed", err)
			}
		})
	}
}

func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=msklink,r=abc"), []byte("c=biws,r=abc,p=AAAA"))
	f.Add([]byte("n,a=x,n=msklink,r=abc"), []byte("c=biws"))
	f.Add([]byte("p=tls-unique,,n=a,r=b"), []byte(""))
	users := passwords(map[string]string{"msklink": "pw"})
	f.Fuzz(func(t *testing.T, first, final []byte) {
		x, out, err := Start(SHA512, first, users)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(out, []byte("r=")) {
			t.Fatalf("server-first %q", out)
		}
		if _, err := x.Final(final); err == nil {
			t.Fatal("a fuzzed proof was accepted")
		}
	})
}

// TestStartStored: exchanges with stored credentials authenticate, give
// the user's one salt every time, and refuse credentials stored for the
// other mechanism or a wrong password.
func TestStartStored(t *testing.T) {
	cr512, err := NewCredentials(SHA512, "secret")
	if err != nil {
		t.Fatal(err)
	}
	stored := func(user string) (*Credentials, bool) { return cr512, user == "alice" }
	run := func(mech sasl.Mechanism) (string, error) {
		t.Helper()
		sess, first, err := mech.Authenticate(context.Background(), "broker:9096")
		if err != nil {
			t.Fatal(err)
		}
		x, serverFirst, err := StartStored(mech.Name(), first, stored)
		if err != nil {
			return "", err
		}
		_, final, err := sess.Challenge(serverFirst)
		if err != nil {
			t.Fatal(err)
		}
		_, err = x.Final(final)
		return string(serverFirst[strings.Index(string(serverFirst), ",s="):]), err
	}
	salt1, err := run(fscram.Auth{User: "alice", Pass: "secret"}.AsSha512Mechanism())
	if err != nil {
		t.Fatal(err)
	}
	salt2, err := run(fscram.Auth{User: "alice", Pass: "secret"}.AsSha512Mechanism())
	if err != nil || salt1 != salt2 {
		t.Fatalf("second exchange: %v; salt %s then %s, want the stored one", err, salt1, salt2)
	}
	if _, err := run(fscram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism()); !errors.Is(err, ErrFailed) {
		t.Errorf("wrong password: %v, want ErrFailed", err)
	}
	if _, err := run(fscram.Auth{User: "alice", Pass: "secret"}.AsSha256Mechanism()); !errors.Is(err, ErrFailed) {
		t.Errorf("SHA-512 credentials for SCRAM-SHA-256: %v, want ErrFailed", err)
	}
}
