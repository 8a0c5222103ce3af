package lambdafn

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type syncBuf = testutil.SyncBuffer

const testTopic = "events"

func startEmulator(t *testing.T, opts ...emulator.Opt) (*emulator.Cluster, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, append([]emulator.Opt{
		emulator.Ephemeral(), emulator.WithTopic(testTopic, 3), emulator.WithTopic("other", 1),
		emulator.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, logs
}

// iamConfig is the connection to the emulator's IAM listeners with its
// default identity.
func iamConfig(c *emulator.Cluster, topic string) kafkaconn.Config {
	return kafkaconn.Config{
		Brokers:     c.BootstrapAddrs(emulator.IAM),
		Auth:        kafkaconn.AuthIAM,
		Region:      c.Region(),
		Topic:       topic,
		TLSCAFile:   c.CAFile(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
}

type testHandler struct {
	*Handler
	logs, metrics *syncBuf
}

func newHandler(t *testing.T, c *emulator.Cluster, opts ...Opt) *testHandler {
	t.Helper()
	th := &testHandler{logs: &syncBuf{}, metrics: &syncBuf{}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	h, err := New(ctx, append([]Opt{
		WithConfig(iamConfig(c, testTopic)),
		WithGetenv(func(string) string { return "" }),
		WithLogger(slog.New(RequestIDHandler(slog.NewJSONHandler(th.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))),
		WithMetricsWriter(th.metrics),
		WithFunctionName("test-fn"),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	th.Handler = h
	return th
}

// invoke runs one invocation with a Lambda context and a deadline.
func (th *testHandler) invoke(t *testing.T, timeout time.Duration, payload any) ([]byte, error) {
	t.Helper()
	var b []byte
	switch p := payload.(type) {
	case string:
		b = []byte(p)
	case []byte:
		b = p
	default:
		var err error
		if b, err = json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-" + strings.ReplaceAll(t.Name(), "/", "-")})
	return th.Invoke(ctx, b)
}

// consume reads n records of topic from the start (bounded in time).
func consume(t *testing.T, c *emulator.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), iamConfig(c, ""))
	if err != nil {
		t.Fatal(err)
	}
	return testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics(topic)), n, 15*time.Second, 0)
}

// adminClient is an admin client of c's IAM listeners with the default
// identity, closed at the end of the test.
func adminClient(t *testing.T, c *emulator.Cluster) *kadm.Client {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), iamConfig(c, ""))
	if err != nil {
		t.Fatal(err)
	}
	return testutil.Admin(t, opts...)
}

// endOffsets sums the end offsets of topic's partitions: how many records
// were ever written.
func endOffsets(t *testing.T, c *emulator.Cluster, topic string) int64 {
	t.Helper()
	return testutil.EndOffsetSum(t, adminClient(t, c), topic)
}

// setMaxMessageBytes sets topic's max.message.bytes.
func setMaxMessageBytes(t *testing.T, c *emulator.Cluster, topic string, n int) {
	t.Helper()
	testutil.SetMaxMessageBytes(t, adminClient(t, c), topic, n)
}
