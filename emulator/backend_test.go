package emulator

import (
	"bufio"
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBackendPipe: the front reaches kfake in-process, and kfake sees the
// client's own address (DescribeGroups' client host), not the front's.
func TestBackendPipe(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var (
		mu    sync.Mutex
		local []string // the client's side of each of its connections
	)
	d := &net.Dialer{Timeout: 5 * time.Second}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...),
		kgo.ConsumerGroup("pipe-g"), kgo.ConsumeTopics("t"),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, host)
			if err == nil {
				mu.Lock()
				local = append(local, conn.LocalAddr().String())
				mu.Unlock()
			}
			return conn, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if fs := cl.PollRecords(ctx, 1); fs.NumRecords() != 1 {
		t.Fatalf("consumed %d records (errors %v), want 1", fs.NumRecords(), fs.Errors())
	}

	adm := kadm.NewClient(cl)
	groups, err := adm.DescribeGroups(ctx, "pipe-g")
	if err != nil {
		t.Fatal(err)
	}
	g := groups["pipe-g"]
	if len(g.Members) != 1 {
		t.Fatalf("group pipe-g: %d members (%v), want 1", len(g.Members), g.Err)
	}
	host := g.Members[0].ClientHost
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(local, host) {
		t.Errorf("kfake sees the member at %q; want one of the client's own addresses %v", host, local)
	}
}

// TestOnlyTheFrontListens: starting a cluster opens exactly the front's
// listeners, no port of kfake's own; kfake's advertised addresses cannot
// be reached, so nobody can, say, delete a topic past the front. Not
// parallel: it compares the process's listening sockets before and after
// Start, which parallel tests would change.
func TestOnlyTheFrontListens(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before := listeningSockets(t)
	c, _ := startCluster(t)
	after := listeningSockets(t)

	want := map[string]bool{}
	for _, k := range allListeners {
		for _, a := range c.BootstrapAddrs(k) {
			want[a] = true
		}
	}
	var extra []string
	for a := range after {
		if !before[a] && !want[a] {
			extra = append(extra, a)
		}
	}
	if len(extra) > 0 {
		t.Errorf("the emulator listens on %v besides its front %v", extra, want)
	}
	for a := range want {
		if !after[a] {
			t.Errorf("front listener %s is not among the process's listening sockets", a)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	internal := c.Kfake().ListenAddrs()
	for _, a := range internal {
		d := net.Dialer{Timeout: 2 * time.Second}
		if nc, err := d.DialContext(ctx, "tcp", a); err == nil {
			nc.Close()
			t.Errorf("kfake's advertised address %s accepts connections", a)
		}
	}
	direct, err := kgo.NewClient(kgo.SeedBrokers(internal...), kgo.RetryTimeout(time.Second), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	reqCtx, reqCancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = kadm.NewClient(direct).DeleteTopics(reqCtx, "t")
	reqCancel()
	if err == nil {
		t.Error("DeleteTopics through kfake's advertised addresses succeeded")
	}
	if c.Kfake().TopicInfo("t") == nil {
		t.Fatal("topic t was deleted past the front")
	}
}

// listeningSockets returns the host:port of every TCP socket of this
// process in LISTEN state, from /proc/self/net/tcp{,6} and the socket
// inodes among /proc/self/fd.
func listeningSockets(t *testing.T) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	out := map[string]bool{}
	for _, name := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(fs) < 10 || fs[3] != "0A" || !inodes[fs[9]] {
				continue
			}
			addr, err := procAddr(fs[1])
			if err != nil {
				t.Fatalf("%s: %q: %v", name, fs[1], err)
			}
			out[addr] = true
		}
		f.Close()
	}
	return out
}

// procAddr parses /proc/net/tcp's "0100007F:1F90" (the address in host
// byte order, 32 bits at a time) as "127.0.0.1:8080".
func procAddr(s string) (string, error) {
	h, p, _ := strings.Cut(s, ":")
	ip, err := hex.DecodeString(h)
	if err != nil {
		return "", err
	}
	for i := 0; i+4 <= len(ip); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = ip[i+3], ip[i+2], ip[i+1], ip[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(net.IP(ip).String(), strconv.Itoa(int(port))), nil
}

// TestRequestsAboveAdvertisedVersions: a request at a version above what
// ApiVersions advertises, or of an API it does not advertise, is never
// forwarded to kfake: the connection is closed, as Kafka closes it, and
// nothing is written.
func TestRequestsAboveAdvertisedVersions(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	leader := c.Kfake().LeaderFor("t", 0)

	produce := func(v int16) kmsg.Request {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = v, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, rawBatch(t, 0, oneRecord([]byte("above")))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	fetch := func(v int16) kmsg.Request {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.MaxWaitMillis, req.MaxBytes = v, 0, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "t", c.Kfake().TopicInfo("t").TopicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = 0, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	shareFetch := kmsg.NewPtrShareFetchRequest()
	shareFetch.GroupID = kmsg.StringPtr("sg")
	heartbeat := kmsg.NewPtrShareGroupHeartbeatRequest()
	heartbeat.GroupID = "sg"

	for _, tc := range []struct {
		name string
		req  kmsg.Request
	}{
		{"Produce v10", produce(10)},
		{"Produce v13", produce(13)},
		{"Fetch v16", fetch(16)},
		{"ShareFetch", shareFetch},
		{"ShareGroupHeartbeat", heartbeat},
	} {
		for _, kind := range []ListenerKind{IAM, Plaintext} {
			t.Run(tc.name+" "+kind.String(), func(t *testing.T) {
				r := dialRaw(t, c, kind, leader)
				if kind == IAM {
					if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
						t.Fatalf("authentication: %v", kerr.ErrorForCode(ar.ErrorCode))
					}
				}
				if err := r.send(tc.req); err != nil {
					t.Fatal(err)
				}
				r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if resp, err := r.recv(tc.req); err == nil {
					t.Errorf("answered: %+v", resp)
				} else if errTimeout(err) == err {
					t.Errorf("neither answered nor closed: %v", err)
				}
			})
		}
	}
	if pi := c.Kfake().PartitionInfo("t", 0); pi.HighWatermark != 0 {
		t.Errorf("t/0 holds %d records: a refused produce was stored", pi.HighWatermark)
	}
}

// TestNoInternalAddressInAnswers: every answer that names brokers names
// the front's listeners of the client's kind, at every version the front
// offers, including answers to requests sent to a broker that does not
// lead the partition (which carry leader hints).
func TestNoInternalAddressInAnswers(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	leader := c.Kfake().LeaderFor("t", 0)
	other := (leader + 1) % 3
	r := dialRaw(t, c, Plaintext, other)
	apis, err := r.do(kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		t.Fatal(err)
	}
	maxv := map[int16]int16{}
	for _, k := range apis.(*kmsg.ApiVersionsResponse).ApiKeys {
		maxv[k.ApiKey] = k.MaxVersion
	}
	fronts := map[string]bool{}
	for _, a := range c.BootstrapAddrs(Plaintext) {
		fronts[a] = true
	}
	check := func(what, host string, port int32) {
		t.Helper()
		if a := net.JoinHostPort(host, strconv.Itoa(int(port))); !fronts[a] {
			t.Errorf("%s names %s, not a front address %v", what, a, fronts)
		}
	}
	id := c.Kfake().TopicInfo("t").TopicID
	t.Logf("versions: produce %d fetch %d", maxv[0], maxv[1])

	md := kmsg.NewPtrMetadataRequest()
	md.Version = maxv[3]
	resp, err := r.do(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
		check("Metadata", b.Host, b.Port)
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorKey, fc.CoordinatorKeys = maxv[10], "g", []string{"g"}
	if resp, err = r.do(fc); err != nil {
		t.Fatal(err)
	}
	for _, co := range resp.(*kmsg.FindCoordinatorResponse).Coordinators {
		check("FindCoordinator", co.Host, co.Port)
	}

	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.Version = maxv[60]
	if resp, err = r.do(dc); err != nil {
		t.Fatal(err)
	}
	for _, b := range resp.(*kmsg.DescribeClusterResponse).Brokers {
		check("DescribeCluster", b.Host, b.Port)
	}

	pr := kmsg.NewPtrProduceRequest()
	pr.Version, pr.Acks, pr.TimeoutMillis = maxv[0], -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = "t", id
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition, pp.Records = 0, rawBatch(t, 0, oneRecord([]byte("hint")))
	pt.Partitions = append(pt.Partitions, pp)
	pr.Topics = append(pr.Topics, pt)
	if resp, err = r.do(pr); err != nil {
		t.Fatal(err)
	}
	produced := resp.(*kmsg.ProduceResponse)
	if code := produced.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Errorf("produce to a follower: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
	for _, b := range produced.Brokers {
		check("Produce", b.Host, b.Port)
	}

	fr := kmsg.NewPtrFetchRequest()
	fr.Version, fr.MaxBytes = maxv[1], 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "t", id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	if resp, err = r.do(fr); err != nil {
		t.Fatal(err)
	}
	for _, b := range resp.(*kmsg.FetchResponse).Brokers {
		check("Fetch", b.Host, b.Port)
	}
}
