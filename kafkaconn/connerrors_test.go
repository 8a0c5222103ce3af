package kafkaconn

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConnErrors: the hook keeps the last failure with its broker, keeps it
// through another broker's success and a caller's cancel, and forgets it
// when that broker connects.
func TestConnErrors(t *testing.T) {
	var c ConnErrors
	a := kgo.BrokerMetadata{NodeID: 1, Host: "b-1.example", Port: 9098}
	b := kgo.BrokerMetadata{NodeID: 2, Host: "b-2.example", Port: 9098}
	if c.Last() != nil {
		t.Fatal("the zero value has a failure")
	}
	refused := errors.New("connect: connection refused")
	c.OnBrokerConnect(a, 0, nil, refused)
	c.OnBrokerConnect(b, 0, nil, nil)
	c.OnBrokerConnect(b, 0, nil, context.Canceled)
	err := c.Last()
	if !errors.Is(err, refused) || !strings.HasPrefix(err.Error(), "broker b-1.example:9098: ") {
		t.Fatalf("Last = %v, want b-1's refusal", err)
	}
	c.OnBrokerConnect(a, 0, nil, nil)
	if err := c.Last(); err != nil {
		t.Errorf("after b-1 connected: %v", err)
	}
}
