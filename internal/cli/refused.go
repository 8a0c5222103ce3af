package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/kafkaconn"
)

// A run of produce or consume stops early, with the cause, when no record
// could be written or read: franz-go retries a refused connection for as
// long as records wait (produce would end at --timeout saying only that
// the cluster did not answer, consume would wait forever), fails the
// records of a missing or forbidden topic one buffer at a time (a large
// input would take minutes and print a line each), and a consumer of a
// missing topic waits for it in silence (kcat -C exits: "Unknown topic or
// partition").

// errConnRefused stops the records in flight when the connection is
// refused; the refusal itself says why.
var errConnRefused = errors.New("the cluster refused the connection")

// refusal is why the cluster refuses every record of a run.
type refusal struct {
	err error
	// conn: the connection itself was refused (TLS, authentication), so
	// no record was written and those in flight can be stopped at once.
	conn bool
	// fix is what to change, printed on its own line after the error
	// ("" when the error says it).
	fix string
}

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }

// access is what a run does with its topic, for the fix a refusal names.
type access int

const (
	writing access = iota
	reading
)

// checkCluster asks the cluster for topic's metadata while the run starts,
// and returns why no record can be written or read, or nil: the TLS
// handshake or the authentication failed, the topic does not exist, the
// principal may not describe it, or it has no partition partition (-1:
// any partition). Anything else (no answer, a failure that may pass) is
// left to the records' outcomes and --timeout.
func checkCluster(ctx context.Context, cl *kgo.Client, topic string, a access, partition int32) *refusal {
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		if kafkaconn.Refused(err) {
			cause := doctor.CauseOf(err)
			doc, _ := doctor.CauseInfo(cause)
			return &refusal{err: fmt.Errorf("the cluster refused the connection (cause %s): %w; msklink doctor names the layer", cause, err), conn: true, fix: doc.Fix}
		}
		return nil
	}
	if len(resp.Topics) != 1 {
		return nil
	}
	t0 := resp.Topics[0]
	if t0.ErrorCode != 0 { // a refusal, or an error the records may get past
		return topicRefusal(topic, kerr.ErrorForCode(t0.ErrorCode), a)
	}
	if n := int32(len(t0.Partitions)); partition >= n {
		return &refusal{err: fmt.Errorf("topic %q has %d partitions, 0 to %d: there is no partition %d (--partition)", topic, n, n-1, partition)}
	}
	return nil
}

// printRefusal writes r on w as msklink's error, prefix first, and its fix
// on a line of its own.
func printRefusal(w io.Writer, prefix string, r *refusal) {
	fmt.Fprintf(w, "msklink: %s%v\n", prefix, r)
	if r.fix != "" {
		fmt.Fprintf(w, "Fix: %s\n", r.fix)
	}
}

// noAnswer says why a run got no answer, from the last failed connection
// (kafkaconn.ConnErrors; nil: none failed), as the end of a message.
func noAnswer(failed error) string {
	if failed == nil {
		return ""
	}
	return fmt.Sprintf("; the last connection error: %v (cause %s; msklink doctor names the layer and the fix)", failed, doctor.CauseOf(failed))
}

// topicRefusal returns why no record can be written to topic if err (a
// record's, or the topic's in metadata) says so, or nil.
func topicRefusal(topic string, err error, a access) *refusal {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return nil
	}
	switch ke {
	case kerr.UnknownTopicOrPartition:
		return &refusal{err: fmt.Errorf("topic %q does not exist on the cluster (%s): create it, or check --topic", topic, ke.Message)}
	case kerr.TopicAuthorizationFailed:
		if a == reading {
			return &refusal{err: fmt.Errorf("the principal may not read topic %q (%s): its IAM policy must allow kafka-cluster:DescribeTopic and kafka-cluster:ReadData on the topic's ARN (with --group, also kafka-cluster:DescribeGroup and kafka-cluster:AlterGroup on the group's)", topic, ke.Message)}
		}
		return &refusal{err: fmt.Errorf("the principal may not write to topic %q (%s): its IAM policy must allow kafka-cluster:DescribeTopic and kafka-cluster:WriteData on the topic's ARN", topic, ke.Message)}
	case kerr.ClusterAuthorizationFailed:
		return &refusal{err: fmt.Errorf("the cluster refused the idempotent producer (%s): allow kafka-cluster:WriteDataIdempotently on the cluster's ARN, or set MSK_IDEMPOTENT=false", ke.Message)}
	}
	return nil
}
