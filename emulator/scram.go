package emulator

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

const scramIterations = 4096

// scramExchange is a server-side SCRAM exchange (RFC 5802, RFC 7677) after
// the client-first message.
type scramExchange struct {
	user            string
	hash            func() hash.Hash
	salted          []byte
	nonce           string
	clientFirstBare string
	serverFirst     string
	gs2             string
}

var errSCRAM = errors.New("SCRAM authentication failed")

// scramFirst handles the client-first message and returns the exchange and
// the server-first message.
func (c *Cluster) scramFirst(mech string, in []byte) (*scramExchange, []byte, error) {
	msg := string(in)
	// gs2-header: "n,," / "y,," / "n,a=authzid,"
	i := strings.IndexByte(msg, ',')
	if i != 1 || (msg[0] != 'n' && msg[0] != 'y') {
		return nil, nil, fmt.Errorf("%w: bad GS2 header (channel binding is not supported)", errSCRAM)
	}
	j := strings.IndexByte(msg[2:], ',')
	if j < 0 {
		return nil, nil, fmt.Errorf("%w: bad GS2 header", errSCRAM)
	}
	gs2, bare := msg[:2+j+1], msg[2+j+1:]
	attrs, err := scramAttrs(bare)
	if err != nil {
		return nil, nil, err
	}
	user, cnonce := attrs["n"], attrs["r"]
	if user == "" || cnonce == "" {
		return nil, nil, fmt.Errorf("%w: client-first message needs n= and r=", errSCRAM)
	}
	user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(user)
	u, ok := c.scram[user]
	if !ok || u.Mechanism != mech {
		return nil, nil, fmt.Errorf("%w: unknown user %q for %s", errSCRAM, user, mech)
	}
	h := sha512.New
	if mech == mechSCRAM256 {
		h = sha256.New
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	salted, err := pbkdf2.Key(h, u.Password, salt, scramIterations, h().Size())
	if err != nil {
		return nil, nil, err
	}
	snonce := make([]byte, 18)
	rand.Read(snonce)
	x := &scramExchange{
		user: user, hash: h, salted: salted, gs2: gs2, clientFirstBare: bare,
		nonce: cnonce + base64.RawStdEncoding.EncodeToString(snonce),
	}
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(salt) + ",i=" + strconv.Itoa(scramIterations)
	return x, []byte(x.serverFirst), nil
}

// final checks the client-final message and returns the server-final one.
func (x *scramExchange) final(in []byte) ([]byte, error) {
	msg := string(in)
	k := strings.LastIndex(msg, ",p=")
	if k < 0 {
		return nil, fmt.Errorf("%w: client-final message without proof", errSCRAM)
	}
	withoutProof := msg[:k]
	attrs, err := scramAttrs(msg)
	if err != nil {
		return nil, err
	}
	if attrs["c"] != base64.StdEncoding.EncodeToString([]byte(x.gs2)) {
		return nil, fmt.Errorf("%w: channel binding mismatch", errSCRAM)
	}
	// Kafka checks the suffix only (ScramSaslServer), and librdkafka relies
	// on it: it sends its own nonce again before the server's.
	if !strings.HasSuffix(attrs["r"], x.nonce) {
		return nil, fmt.Errorf("%w: nonce mismatch", errSCRAM)
	}
	proof, err := base64.StdEncoding.DecodeString(attrs["p"])
	if err != nil || len(proof) != len(x.salted) {
		return nil, fmt.Errorf("%w: malformed proof", errSCRAM)
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
		return nil, fmt.Errorf("%w: wrong password for user %q", errSCRAM, x.user)
	}
	serverSig := mac(mac(x.salted, "Server Key"), authMsg)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

// scramAttrs parses "k=v,k=v" SCRAM attributes.
func scramAttrs(s string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if len(kv) < 2 || kv[1] != '=' {
			return nil, fmt.Errorf("%w: malformed attribute (want k=value)", errSCRAM)
		}
		m[kv[:1]] = kv[2:]
	}
	return m, nil
}
