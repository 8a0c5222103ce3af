package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/msklink/msklink/internal/kafkawire"
)

// TestGroupConsumeIAM covers FindCoordinator (address rewriting and
// DescribeGroup), JoinGroup/SyncGroup/Heartbeat/OffsetCommit (AlterGroup)
// and Fetch (ReadData) on the IAM listener with a consumer group.
func TestGroupConsumeIAM(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	p := provider(t, c, DefaultAccessKeyID, DefaultSecretAccessKey)
	roundTrip(t, append(iamOpts(c, p.MSKIAM()), kgo.ConsumerGroup("g1"))...)
}

func TestGroupDenied(t *testing.T) {
	t.Parallel()
	cl, lb := policyClient(t, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kafka-cluster:*","Resource":"*"},
		{"Effect":"Deny","Action":["kafka-cluster:AlterGroup","kafka-cluster:DescribeGroup"],"Resource":"arn:aws:kafka:us-east-1:000000000000:group/local/*"}]}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorKeys = "g1", []string{"g1"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	code := resp.ErrorCode
	if len(resp.Coordinators) == 1 {
		code = resp.Coordinators[0].ErrorCode
	}
	if !errors.Is(kerr.ErrorForCode(code), kerr.GroupAuthorizationFailed) {
		t.Fatalf("FindCoordinator: %v", kerr.ErrorForCode(code))
	}
	if !strings.Contains(lb.String(), `"action":"kafka-cluster:DescribeGroup"`) {
		t.Error("no audit line")
	}
}

func TestAddressRewriting(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	r := dialRaw(t, c, TLS, 2)
	for _, v := range []int16{3, 4} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.Version, fc.CoordinatorKey, fc.CoordinatorKeys = v, "g", []string{"g"}
		resp, err := r.do(fc)
		if err != nil {
			t.Fatal(err)
		}
		fr := resp.(*kmsg.FindCoordinatorResponse)
		host, port, node := fr.Host, fr.Port, fr.NodeID
		if v >= 4 {
			host, port, node = fr.Coordinators[0].Host, fr.Coordinators[0].Port, fr.Coordinators[0].NodeID
		}
		if want := c.Listener(node, TLS).Addr(); want != host+":"+itoa(port) {
			t.Errorf("FindCoordinator v%d: %s:%d, want %s", v, host, port, want)
		}
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	resp, err := r.do(dc)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range resp.(*kmsg.DescribeClusterResponse).Brokers {
		if want := c.Listener(b.NodeID, TLS).Addr(); want != b.Host+":"+itoa(b.Port) {
			t.Errorf("DescribeCluster: node %d at %s:%d, want %s", b.NodeID, b.Host, b.Port, want)
		}
	}
}

func itoa(p int32) string { b, _ := json.Marshal(p); return string(b) }

// TestSCRAMHandshakeV0 runs a SCRAM exchange raw after SaslHandshake v0,
// as kafka-python 2.0.2 does.
func TestSCRAMHandshakeV0(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	for _, pass := range []string{DefaultSCRAMPassword, "wrong"} {
		r := dialRaw(t, c, SCRAM, 0)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 0, "SCRAM-SHA-512"
		if _, err := r.do(hs); err != nil {
			t.Fatal(err)
		}
		sess, msg, err := scram.Auth{User: DefaultSCRAMUser, Pass: pass}.AsSha512Mechanism().Authenticate(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		var done bool
		for i := 0; !done && i < 3; i++ {
			r.c.Write(kafkawire.AppendFrame(nil, msg))
			in, err := kafkawire.ReadFrame(r.c, 4096)
			if err != nil {
				if pass == DefaultSCRAMPassword {
					t.Fatalf("step %d: %v", i, err)
				}
				break // wrong password: closed without an answer
			}
			if done, msg, err = sess.Challenge(in); err != nil {
				t.Fatal(err)
			}
		}
		if pass != DefaultSCRAMPassword {
			if done {
				t.Fatal("wrong password accepted")
			}
			continue
		}
		if !done {
			t.Fatal("SCRAM did not finish")
		}
		if _, err := r.do(kmsg.NewPtrMetadataRequest()); err != nil {
			t.Fatal(err)
		}
	}
}
