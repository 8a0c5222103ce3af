// Package scram is the server side of SASL SCRAM-SHA-256 and SCRAM-SHA-512
// (RFC 5802, RFC 7677) as Apache Kafka runs it: no channel binding, 4096
// iterations, the nonce checked by suffix. The emulator's SCRAM listener and
// the proxy's client authentication share it.
//
// An Exchange is used by one connection at a time; Start and the package's
// functions are safe for concurrent use.
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// The mechanism names.
const (
	SHA512 = "SCRAM-SHA-512"
	SHA256 = "SCRAM-SHA-256"
)

// Iterations is the PBKDF2 iteration count the server asks for (Kafka's
// default and minimum).
const Iterations = 4096

// ErrFailed is wrapped by every authentication failure.
var ErrFailed = errors.New("SCRAM authentication failed")

// Exchange is a server-side SCRAM exchange after the client-first message.
type Exchange struct {
	// User is the authenticating user, as the client named it.
	User string

	hash            func() hash.Hash
	salted          []byte
	nonce           string
	clientFirstBare string
	serverFirst     string
	gs2             string
}

// Credentials are a user's stored credentials for one mechanism: a salt
// and the password salted with it, as Kafka stores SCRAM credentials.
// Salting (PBKDF2, Iterations rounds) costs milliseconds; an exchange with
// stored credentials costs a few HMACs. Credentials are immutable and safe
// for concurrent use.
type Credentials struct {
	mech   string
	salt   []byte
	salted []byte
}

// hashFor returns the hash of mechanism mech.
func hashFor(mech string) (func() hash.Hash, error) {
	switch mech {
	case SHA512:
		return sha512.New, nil
	case SHA256:
		return sha256.New, nil
	}
	return nil, fmt.Errorf("%w: mechanism %q is not SCRAM", ErrFailed, mech)
}

// NewCredentials salts password for mechanism mech (SHA512 or SHA256)
// with a new random salt.
func NewCredentials(mech, password string) (*Credentials, error) {
	h, err := hashFor(mech)
	if err != nil {
		return nil, err
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, err := pbkdf2.Key(h, password, salt, Iterations, h().Size())
	if err != nil {
		return nil, err
	}
	return &Credentials{mech: mech, salt: salt, salted: salted}, nil
}

// Start handles the client-first message of mechanism mech (SHA512 or
// SHA256) and returns the exchange and the server-first message. password
// returns the user's password, and false for a user unknown for mech. It
// salts the password for this exchange; servers that see many exchanges
// use StartStored.
func Start(mech string, clientFirst []byte, password func(user string) (string, bool)) (*Exchange, []byte, error) {
	var saltErr error
	x, first, err := StartStored(mech, clientFirst, func(user string) (*Credentials, bool) {
		pw, ok := password(user)
		if !ok {
			return nil, false
		}
		cr, err := NewCredentials(mech, pw)
		saltErr = err
		return cr, err == nil
	})
	if saltErr != nil {
		return nil, nil, saltErr
	}
	return x, first, err
}

// StartStored is Start with stored credentials: credentials returns the
// user's for mech, and false for a user unknown for mech.
func StartStored(mech string, clientFirst []byte, credentials func(user string) (*Credentials, bool)) (*Exchange, []byte, error) {
	h, err := hashFor(mech)
	if err != nil {
		return nil, nil, err
	}
	msg := string(clientFirst)
	// gs2-header: "n,," / "y,," / "n,a=authzid,"
	i := strings.IndexByte(msg, ',')
	if i != 1 || (msg[0] != 'n' && msg[0] != 'y') {
		return nil, nil, fmt.Errorf("%w: bad GS2 header (channel binding is not supported)", ErrFailed)
	}
	j := strings.IndexByte(msg[2:], ',')
	if j < 0 {
		return nil, nil, fmt.Errorf("%w: bad GS2 header", ErrFailed)
	}
	gs2, bare := msg[:2+j+1], msg[2+j+1:]
	attrs, err := attributes(bare)
	if err != nil {
		return nil, nil, err
	}
	user, cnonce := attrs["n"], attrs["r"]
	if user == "" || cnonce == "" {
		return nil, nil, fmt.Errorf("%w: client-first message needs n= and r=", ErrFailed)
	}
	user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(user)
	cr, ok := credentials(user)
	if !ok || cr == nil || cr.mech != mech {
		return nil, nil, fmt.Errorf("%w: unknown user %q for %s", ErrFailed, user, mech)
	}
	snonce := make([]byte, 18)
	rand.Read(snonce)
	x := &Exchange{
		User: user, hash: h, salted: cr.salted, gs2: gs2, clientFirstBare: bare,
		nonce: cnonce + base64.RawStdEncoding.EncodeToString(snonce),
	}
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(cr.salt) + ",i=" + strconv.Itoa(Iterations)
	return x, []byte(x.serverFirst), nil
}

// Final checks the client-final message and returns the server-final one.
func (x *Exchange) Final(clientFinal []byte) ([]byte, error) {
	msg := string(clientFinal)
	k := strings.LastIndex(msg, ",p=")
	if k < 0 {
		return nil, fmt.Errorf("%w: client-final message without proof", ErrFailed)
	}
	withoutProof := msg[:k]
	attrs, err := attributes(msg)
	if err != nil {
		return nil, err
	}
	if attrs["c"] != base64.StdEncoding.EncodeToString([]byte(x.gs2)) {
		return nil, fmt.Errorf("%w: channel binding mismatch", ErrFailed)
	}
	// Kafka checks the suffix only (ScramSaslServer), and librdkafka relies
	// on it: it sends its own nonce again before the server's.
	if !strings.HasSuffix(attrs["r"], x.nonce) {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrFailed)
	}
	proof, err := base64.StdEncoding.DecodeString(attrs["p"])
	if err != nil || len(proof) != len(x.salted) {
		return nil, fmt.Errorf("%w: malformed proof", ErrFailed)
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(x.hash, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	authMsg := x.clientFirstBare + "," + x.serverFirst + "," + withoutProof
	clientKey := mac(x.salted, "Client Key")
	hh := x.hash()
	hh.Write(clientKey)
	storedKey := hh.Sum(nil)
	sig := mac(storedKey, authMsg)
	got := make([]byte, len(proof))
	for i := range proof {
		got[i] = proof[i] ^ sig[i]
	}
	hh = x.hash()
	hh.Write(got)
	if subtle.ConstantTimeCompare(hh.Sum(nil), storedKey) != 1 {
		return nil, fmt.Errorf("%w: wrong password for user %q", ErrFailed, x.User)
	}
	serverSig := mac(mac(x.salted, "Server Key"), authMsg)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

// attributes parses "k=v,k=v" SCRAM attributes.
func attributes(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if len(kv) < 2 || kv[1] != '=' {
			return nil, fmt.Errorf("%w: malformed attribute (want k=value)", ErrFailed)
		}
		m[kv[:1]] = kv[2:]
	}
	return m, nil
}
