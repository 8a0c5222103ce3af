package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/kafkaconn"
)

// checkMetadata asks the bootstrap brokers for the cluster's brokers (and
// the topic, when one is given): the first answer wins.
func (d *diag) checkMetadata(ctx context.Context, boot []*wconn) (*kmsg.MetadataResponse, bool) {
	start := time.Now()
	lctx, cancel := d.layerCtx(ctx)
	defer cancel()
	var lastErr error
	for _, w := range boot {
		req := kmsg.NewPtrMetadataRequest()
		v, _ := w.version(3, 12)
		req.SetVersion(v)
		req.Topics = []kmsg.MetadataRequestTopic{}
		if d.o.topic != "" {
			t := kmsg.NewMetadataRequestTopic()
			t.Topic = kmsg.StringPtr(d.o.topic)
			req.Topics = append(req.Topics, t)
		}
		r, err := w.request(lctx, req)
		if err != nil {
			lastErr = err
			continue
		}
		md := r.(*kmsg.MetadataResponse)
		var bs []string
		for _, b := range md.Brokers {
			bs = append(bs, fmt.Sprintf("%d=%s", b.NodeID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))))
		}
		detail := fmt.Sprintf("from %s: %d broker(s) advertised: %s", w.addr, len(md.Brokers), strings.Join(bs, " "))
		if len(md.Brokers) == 0 {
			d.add("metadata", "metadata", Fail, time.Since(start), detail)
			d.failed(CauseAdvertisedUnreachable, "the cluster advertises no brokers")
			return nil, false
		}
		d.add("metadata", "metadata", Pass, time.Since(start), detail)
		return md, true
	}
	s := d.connStep("Metadata", lastErr)
	d.add("metadata", "metadata", Fail, time.Since(start), s.detail)
	d.failed(s.cause, "metadata: "+s.detail)
	return nil, false
}

// checkAdvertised connects to every advertised broker (DNS, TCP, TLS, SASL)
// at once; a bootstrap connection to the same address is reused.
func (d *diag) checkAdvertised(ctx context.Context, md *kmsg.MetadataResponse, boot []*wconn) bool {
	byAddr := map[string]*wconn{}
	for _, w := range boot {
		byAddr[w.addr] = w
	}
	n := len(md.Brokers)
	ws := make([]*wconn, n)
	steps := make([]step, n)
	parallel(n, func(i int) {
		b := md.Brokers[i]
		name := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		start := time.Now()
		if w := byAddr[name]; w != nil {
			ws[i], steps[i] = w, step{detail: "same address as a bootstrap broker: checked above"}
		} else {
			ws[i], steps[i] = d.connect(ctx, name)
		}
		steps[i].dur = time.Since(start)
	})
	var first *pendingFail
	for i, b := range md.Brokers {
		name := fmt.Sprintf("advertised %d %s", b.NodeID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		s := steps[i]
		if s.cause == "" {
			d.add("advertised", name, Pass, s.dur, s.detail)
			d.conns[b.NodeID] = ws[i]
			continue
		}
		d.add("advertised", name, Fail, s.dur, s.detail)
		if first == nil {
			first = &pendingFail{cause: s.cause, summary: name + ": " + s.detail}
		}
	}
	if first != nil {
		d.failed(first.cause, "bootstrap works, but not every advertised broker: "+first.summary)
		return false
	}
	return true
}

// connect runs the whole chain to one address, each layer bounded by the
// timeout. DNS and TCP failures are advertised_unreachable; later ones keep
// their own cause.
func (d *diag) connect(ctx context.Context, name string) (*wconn, step) {
	host, port, err := net.SplitHostPort(name)
	if err != nil {
		return nil, step{cause: CauseAdvertisedUnreachable, detail: err.Error()}
	}
	lctx, cancel := d.layerCtx(ctx)
	ips, s := d.resolve(lctx, host)
	cancel()
	if s.cause != "" {
		return nil, step{cause: CauseAdvertisedUnreachable, detail: "dns: " + s.detail}
	}
	var c net.Conn
	var a addr
	for _, ip := range ips {
		a = addr{name: name, host: host, dial: net.JoinHostPort(ip, port)}
		lctx, cancel := d.layerCtx(ctx)
		c, s = d.dialTCP(lctx, a.dial)
		cancel()
		if c != nil {
			break
		}
	}
	if c == nil {
		return nil, step{cause: CauseAdvertisedUnreachable, detail: "tcp " + a.dial + ": " + s.detail}
	}
	if d.usesTLS() {
		lctx, cancel := d.layerCtx(ctx)
		c, s = d.handshake(lctx, c, a)
		cancel()
		if c == nil {
			s.detail = "tls: " + s.detail
			return nil, s
		}
	}
	lctx, cancel = d.layerCtx(ctx)
	defer cancel()
	w, s := d.hello(lctx, c, a)
	if w == nil {
		s.detail = d.helloName() + ": " + s.detail
		return nil, s
	}
	s.detail = "resolved, connected" + map[bool]string{true: ", TLS", false: ""}[d.usesTLS()] + "; " + s.detail
	return w, s
}

// checkAuthz tries the workload's actions on the topic (and group) for
// real, each with the request a client would send.
func (d *diag) checkAuthz(ctx context.Context, md *kmsg.MetadataResponse) bool {
	topic := d.o.topic
	_, lw, ok := d.describeTopic(md)
	if !ok {
		return false
	}
	var anyc *wconn
	for _, w := range d.conns {
		anyc = w
		break
	}

	// WriteData: a Produce with an empty batch. The broker authorizes the
	// topic before it looks at the records, so an allowed write is answered
	// CORRUPT_MESSAGE (or INVALID_RECORD) and nothing is written.
	if !d.probe(ctx, "authz write_data", Fail, CauseAuthzTopic, func(ctx context.Context) (string, string, error) {
		req := kmsg.NewPtrProduceRequest()
		v, _ := lw.version(0, 9)
		req.SetVersion(v)
		req.Acks = 1
		req.TimeoutMillis = int32(d.o.timeout.Milliseconds())
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = 0
		rp.Records = []byte{}
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		r, err := lw.request(ctx, req)
		if err != nil {
			return "", "", err
		}
		code := int16(-1)
		if rs := r.(*kmsg.ProduceResponse); len(rs.Topics) > 0 && len(rs.Topics[0].Partitions) > 0 {
			code = rs.Topics[0].Partitions[0].ErrorCode
		}
		if code == kerr.TopicAuthorizationFailed.Code {
			return fmt.Sprintf("Produce to %s/0: TOPIC_AUTHORIZATION_FAILED: kafka-cluster:WriteData denied", topic), fmt.Sprintf("kafka-cluster:WriteData is denied on topic %q", topic), nil
		}
		return fmt.Sprintf("allowed: the empty probe batch was rejected after authorization (%v); nothing written", codeName(code)), "", nil
	}) {
		return false
	}

	if !d.cfg.DisableIdempotence {
		if !d.probe(ctx, "authz write_idempotent", Fail, CauseAuthzIdempotent, func(ctx context.Context) (string, string, error) {
			req := kmsg.NewPtrInitProducerIDRequest()
			v, _ := anyc.version(22, 4)
			req.SetVersion(v)
			req.TransactionTimeoutMillis = 60000
			req.ProducerID, req.ProducerEpoch = -1, -1
			r, err := anyc.request(ctx, req)
			if err != nil {
				return "", "", err
			}
			rs := r.(*kmsg.InitProducerIDResponse)
			if rs.ErrorCode == kerr.ClusterAuthorizationFailed.Code {
				return "InitProducerId: CLUSTER_AUTHORIZATION_FAILED: kafka-cluster:WriteDataIdempotently denied (the idempotent producer, on by default, needs it)", "kafka-cluster:WriteDataIdempotently is denied on the cluster", nil
			}
			if rs.ErrorCode != 0 {
				return fmt.Sprintf("InitProducerId allowed, answered %v", codeName(rs.ErrorCode)), "", nil
			}
			return fmt.Sprintf("InitProducerId: producer id %d", rs.ProducerID), "", nil
		}) {
			return false
		}
	} else {
		d.add("authz", "authz write_idempotent", Skip, 0, "idempotence disabled in the configuration")
	}

	readStatus := Warn
	if d.o.consume {
		readStatus = Fail
	}
	if !d.probe(ctx, "authz read_data", readStatus, CauseAuthzTopic, d.fetchProbe(lw, 0)) {
		return false
	}

	if d.o.group == "" {
		d.add("authz", "authz group", Skip, 0, "no group given (--group)")
		return true
	}
	return d.checkGroup(ctx, anyc)
}

// fetchProbe is the ReadData probe: a Fetch of partition 0 from offset at
// most one byte long, as a consumer's.
func (d *diag) fetchProbe(lw *wconn, offset int64) func(ctx context.Context) (string, string, error) {
	topic := d.o.topic
	return func(ctx context.Context) (string, string, error) {
		req := kmsg.NewPtrFetchRequest()
		v, _ := lw.version(1, 11)
		req.SetVersion(v)
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 0
		req.MaxBytes = 1
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset, rp.CurrentLeaderEpoch = 0, offset, 1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		r, err := lw.request(ctx, req)
		if err != nil {
			return "", "", err
		}
		rs := r.(*kmsg.FetchResponse)
		code := rs.ErrorCode
		if len(rs.Topics) > 0 && len(rs.Topics[0].Partitions) > 0 && code == 0 {
			code = rs.Topics[0].Partitions[0].ErrorCode
		}
		if code == kerr.TopicAuthorizationFailed.Code {
			return fmt.Sprintf("Fetch from %s/0: TOPIC_AUTHORIZATION_FAILED: kafka-cluster:ReadData denied", topic), fmt.Sprintf("kafka-cluster:ReadData is denied on topic %q", topic), nil
		}
		if code != 0 {
			return fmt.Sprintf("Fetch allowed, answered %v", codeName(code)), "", nil
		}
		return "Fetch allowed", "", nil
	}
}

// describeTopic reads the topic's answer in the Metadata response
// (DescribeTopic) as the "authz describe_topic" check, and returns it with
// the connection to partition 0's leader.
func (d *diag) describeTopic(md *kmsg.MetadataResponse) (*kmsg.MetadataResponseTopic, *wconn, bool) {
	topic := d.o.topic
	start := time.Now()
	var mt *kmsg.MetadataResponseTopic
	for i := range md.Topics {
		if md.Topics[i].Topic != nil && *md.Topics[i].Topic == topic {
			mt = &md.Topics[i]
		}
	}
	switch {
	case mt == nil:
		d.add("authz", "authz describe_topic", Fail, time.Since(start), "the broker did not answer for topic "+topic)
		d.failed(CauseAuthzTopic, "no metadata for topic "+topic)
		return nil, nil, false
	case mt.ErrorCode == kerr.TopicAuthorizationFailed.Code:
		d.add("authz", "authz describe_topic", Fail, time.Since(start), fmt.Sprintf("Metadata for %q: TOPIC_AUTHORIZATION_FAILED: kafka-cluster:DescribeTopic denied", topic))
		d.failed(CauseAuthzTopic, fmt.Sprintf("kafka-cluster:DescribeTopic is denied on topic %q", topic))
		return nil, nil, false
	case mt.ErrorCode == kerr.UnknownTopicOrPartition.Code:
		d.add("authz", "authz describe_topic", Fail, time.Since(start), fmt.Sprintf("topic %q does not exist (UNKNOWN_TOPIC_OR_PARTITION)", topic))
		d.failed(CauseConfig, fmt.Sprintf("topic %q does not exist", topic))
		d.fix = "create the topic (MSK does not auto-create topics unless auto.create.topics.enable is set), or fix --topic / MSK_TOPIC"
		return nil, nil, false
	case mt.ErrorCode != 0:
		d.add("authz", "authz describe_topic", Fail, time.Since(start), fmt.Sprintf("Metadata for %q: %v", topic, kerr.ErrorForCode(mt.ErrorCode)))
		d.failed(CauseBrokerTimeout, fmt.Sprintf("topic %q is not usable: %v", topic, kerr.ErrorForCode(mt.ErrorCode)))
		d.fix = "the partition leaders are unavailable: check the cluster's health"
		return nil, nil, false
	}
	var leader int32 = -1
	for _, p := range mt.Partitions {
		if p.Partition == 0 {
			leader = p.Leader
		}
	}
	d.add("authz", "authz describe_topic", Pass, time.Since(start), fmt.Sprintf("topic %q: %d partition(s), partition 0 led by broker %d", topic, len(mt.Partitions), leader))
	lw := d.conns[leader]
	if lw == nil {
		d.failed(CauseAdvertisedUnreachable, fmt.Sprintf("the leader of %s/0 (broker %d) is not reachable", topic, leader))
		return nil, nil, false
	}
	return mt, lw, true
}

// findCoordinator asks anyc for the group's coordinator (DescribeGroup)
// and returns the connection to it, or the denial (detail, denied) or the
// error.
func (d *diag) findCoordinator(ctx context.Context, anyc *wconn) (coord *wconn, node int32, detail, denied string, err error) {
	g := d.o.group
	req := kmsg.NewPtrFindCoordinatorRequest()
	v, _ := anyc.version(10, 3)
	req.SetVersion(v)
	req.CoordinatorKey = g
	r, err := anyc.request(ctx, req)
	if err != nil {
		return nil, 0, "", "", err
	}
	rs := r.(*kmsg.FindCoordinatorResponse)
	if rs.ErrorCode == kerr.GroupAuthorizationFailed.Code {
		return nil, 0, fmt.Sprintf("FindCoordinator for group %q: GROUP_AUTHORIZATION_FAILED: kafka-cluster:DescribeGroup denied", g), fmt.Sprintf("kafka-cluster:DescribeGroup is denied on group %q", g), nil
	}
	if rs.ErrorCode != 0 {
		return nil, 0, "", "", fmt.Errorf("FindCoordinator: %w", kerr.ErrorForCode(rs.ErrorCode))
	}
	if coord = d.conns[rs.NodeID]; coord == nil {
		return nil, 0, "", "", fmt.Errorf("coordinator broker %d is not among the reachable brokers", rs.NodeID)
	}
	return coord, rs.NodeID, "", "", nil
}

// checkGroup tries FindCoordinator (DescribeGroup), OffsetFetch
// (DescribeGroup) and a Heartbeat with no member (AlterGroup, without
// joining or disturbing the group).
func (d *diag) checkGroup(ctx context.Context, anyc *wconn) bool {
	g := d.o.group
	var coord *wconn
	if !d.probe(ctx, "authz group_describe", Fail, CauseAuthzGroup, func(ctx context.Context) (string, string, error) {
		var node int32
		var detail, denied string
		var err error
		if coord, node, detail, denied, err = d.findCoordinator(ctx, anyc); coord == nil {
			return detail, denied, err
		}
		req2 := kmsg.NewPtrOffsetFetchRequest()
		v2, _ := coord.version(9, 7)
		req2.SetVersion(v2)
		req2.Group = g
		r2, err := coord.request(ctx, req2)
		if err != nil {
			return "", "", err
		}
		if rs2 := r2.(*kmsg.OffsetFetchResponse); rs2.ErrorCode == kerr.GroupAuthorizationFailed.Code {
			return fmt.Sprintf("OffsetFetch for group %q: GROUP_AUTHORIZATION_FAILED: kafka-cluster:DescribeGroup denied", g), fmt.Sprintf("kafka-cluster:DescribeGroup is denied on group %q", g), nil
		}
		return fmt.Sprintf("FindCoordinator: broker %d; OffsetFetch allowed", node), "", nil
	}) {
		return false
	}
	return d.probe(ctx, "authz group_alter", Fail, CauseAuthzGroup, func(ctx context.Context) (string, string, error) {
		req := kmsg.NewPtrHeartbeatRequest()
		v, _ := coord.version(12, 4)
		req.SetVersion(v)
		req.Group = g
		req.Generation = -1
		req.MemberID = "msklink-doctor-probe"
		r, err := coord.request(ctx, req)
		if err != nil {
			return "", "", err
		}
		rs := r.(*kmsg.HeartbeatResponse)
		if rs.ErrorCode == kerr.GroupAuthorizationFailed.Code {
			return fmt.Sprintf("Heartbeat for group %q: GROUP_AUTHORIZATION_FAILED: kafka-cluster:AlterGroup denied (consumers need it to join and commit)", g), fmt.Sprintf("kafka-cluster:AlterGroup is denied on group %q", g), nil
		}
		return fmt.Sprintf("allowed: a Heartbeat without membership was answered %v (the group is not disturbed)", codeName(rs.ErrorCode)), "", nil
	})
}

func codeName(code int16) string {
	if code == 0 {
		return "no error"
	}
	var ke *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &ke) {
		return ke.Message
	}
	return fmt.Sprintf("error %d", code)
}

// probe runs one authorization probe within the timeout. f returns the
// detail and, when denied, the summary. failStatus is the status of a
// denial (Warn for actions outside the declared workload).
func (d *diag) probe(ctx context.Context, name string, failStatus Status, cause string, f func(context.Context) (detail, denied string, err error)) bool {
	start := time.Now()
	lctx, cancel := d.layerCtx(ctx)
	defer cancel()
	detail, denied, err := f(lctx)
	dur := time.Since(start)
	switch {
	case err != nil:
		var ke *kerr.Error
		s := d.connStep(strings.TrimPrefix(name, "authz "), err)
		if errors.As(err, &ke) || (!errors.Is(err, errNotKafka) && classifyNet(err) == netOther) {
			s = step{cause: CauseBrokerTimeout, detail: err.Error()}
		}
		d.add("authz", name, Fail, dur, s.detail)
		d.failed(s.cause, name+": "+s.detail)
		return false
	case denied != "":
		d.add("authz", name, failStatus, dur, detail)
		if failStatus == Fail {
			d.failed(cause, denied)
			return false
		}
		return true
	}
	d.add("authz", name, Pass, dur, detail)
	return true
}

// roundTrip produces one record (WithProduce) and reads it back
// (WithConsume) through a franz-go client built from the same Config.
func (d *diag) roundTrip(ctx context.Context) {
	if !d.o.produce && !d.o.consume {
		return
	}
	cfg := d.cfg
	cfg.DialTimeout = d.o.timeout
	var (
		part   int32 = 0
		offset int64 = -1
		t0     time.Time
	)
	if d.o.produce {
		start := time.Now()
		lctx, cancel := context.WithTimeout(ctx, 2*d.o.timeout)
		cl, err := kafkaconn.NewClient(lctx, cfg, kafkaconn.WithClientOpts(kgo.DisableClientMetrics()))
		if err != nil {
			cancel()
			d.add("produce", "produce", Fail, time.Since(start), err.Error())
			d.failed(CauseConfig, "building the client: "+err.Error())
			return
		}
		t0 = time.Now()
		rec := &kgo.Record{Topic: d.o.topic, Partition: 0, Key: []byte("msklink-doctor"), Value: fmt.Appendf(nil, "msklink doctor probe %s", t0.UTC().Format(time.RFC3339Nano))}
		res := cl.ProduceSync(lctx, rec)
		cl.Close()
		cancel()
		r, err := res.First()
		if err != nil {
			cause := produceCause(err)
			d.add("produce", "produce", Fail, time.Since(start), fmt.Sprintf("producing one record to %s: %v", d.o.topic, err))
			d.failed(cause, "produce: "+err.Error())
			return
		}
		part, offset = r.Partition, r.Offset
		d.add("produce", "produce", Pass, time.Since(start), fmt.Sprintf("one record acked at %s/%d offset %d in %s (cold client: connections, auth and metadata included)", d.o.topic, r.Partition, r.Offset, time.Since(t0).Round(time.Millisecond)))
	}
	if !d.o.consume {
		return
	}
	start := time.Now()
	at := kgo.NewOffset().AtEnd().Relative(-1)
	if offset >= 0 {
		at = kgo.NewOffset().At(offset)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*d.o.timeout)
	defer cancel()
	cl, err := kafkaconn.NewClient(lctx, cfg, kafkaconn.WithClientOpts(kgo.DisableClientMetrics(),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.o.topic: {part: at}})))
	if err != nil {
		d.add("consume", "consume", Fail, time.Since(start), err.Error())
		d.failed(CauseConfig, "building the client: "+err.Error())
		return
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(lctx)
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = err
			}
		})
		if ferr != nil {
			d.add("consume", "consume", Fail, time.Since(start), fmt.Sprintf("reading %s/%d: %v", d.o.topic, part, ferr))
			d.failed(produceCause(ferr), "consume: "+ferr.Error())
			return
		}
		for _, r := range fs.Records() {
			if offset < 0 || r.Offset == offset {
				lat := ""
				if !t0.IsZero() {
					lat = fmt.Sprintf("; produce to read back: %s", time.Since(t0).Round(time.Millisecond))
				}
				d.add("consume", "consume", Pass, time.Since(start), fmt.Sprintf("read %s/%d offset %d%s", d.o.topic, r.Partition, r.Offset, lat))
				return
			}
		}
		if lctx.Err() != nil {
			st := Fail
			detail := fmt.Sprintf("no record read from %s/%d within %s", d.o.topic, part, 2*d.o.timeout)
			if offset < 0 {
				st = Warn
				detail += " (the partition may be empty; add --produce)"
			}
			d.add("consume", "consume", st, time.Since(start), detail)
			if st == Fail {
				d.failed(CauseBrokerTimeout, detail)
			}
			return
		}
	}
}

func produceCause(err error) string {
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return CauseAuthzTopic
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return CauseAuthzIdempotent
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		return CauseAuthzGroup
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return CauseAuthDenied
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, kgo.ErrRecordTimeout):
		return CauseBrokerTimeout
	}
	return CauseConnectionReset
}
