package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
)

// orderEvent is an MSK event as the event source mapping sends it: three
// records of orders-0 (the middle one not an order) and one of orders-1.
func orderEvent() []byte {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return []byte(`{"eventSource":"aws:kafka",
		"eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/shop/11111111-2222-3333-4444-555555555555-1",
		"bootstrapServers":"b-1.shop.abc123.c2.kafka.us-east-1.amazonaws.com:9098",
		"records":{
			"orders-0":[
				{"topic":"orders","partition":0,"offset":7,"timestamp":1700000000000,"timestampType":"CREATE_TIME","key":"` + b64("c-1") + `","value":"` + b64(`{"id":"o-7","customer":"c-1","items":2,"total":19.5}`) + `","headers":[]},
				{"topic":"orders","partition":0,"offset":8,"timestamp":1700000000100,"timestampType":"CREATE_TIME","key":"` + b64("c-2") + `","value":"` + b64(`<order>not json</order>`) + `","headers":[]},
				{"topic":"orders","partition":0,"offset":9,"timestamp":1700000000200,"timestampType":"CREATE_TIME","value":"` + b64(`{"id":"o-9","items":1}`) + `","headers":[]}],
			"orders-1":[
				{"topic":"orders","partition":1,"offset":3,"timestamp":1700000000300,"timestampType":"CREATE_TIME","value":"` + b64(`{"id":"o-3","customer":"c-3","items":5,"total":7}`) + `","headers":[{"trace":[116,49]}]}]}}`)
}

// TestNoKafkaClientLinked: the consumer function links no Kafka client.
func TestNoKafkaClientLinked(t *testing.T) {
	for _, d := range testutil.Deps(t, ".", testutil.LambdaTags) {
		if strings.Contains(d, "franz-go") || strings.Contains(d, "aws-sdk-go") || d == "github.com/msklink/msklink/publish" || d == "testing" {
			t.Errorf("the consumer links %s", d)
		}
	}
	testutil.BuildLambda(t, ".", "arm64")
}

// TestConsumerUnderRIE builds the function as Lambda runs it, runs it
// under AWS's Runtime Interface Emulator and posts an MSK event to the
// Invoke API: the record that is not an order comes back in the partial
// batch response; without MSK_REPORT_BATCH_ITEM_FAILURES the invocation
// fails instead (errorType BatchError), so the mapping retries the batch.
func TestConsumerUnderRIE(t *testing.T) {
	testutil.RIEBinary(t)
	bootstrap := testutil.BuildLambda(t, ".", runtime.GOARCH)

	r := testutil.StartRIE(t, bootstrap, 10, "MSK_REPORT_BATCH_ITEM_FAILURES=true", "AWS_LAMBDA_FUNCTION_NAME=kafka-consumer")
	out, _ := r.Invoke(t, orderEvent(), 30*time.Second)
	if want := `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":8}}]}`; string(out) != want {
		t.Fatalf("response %s, want %s\n%s", out, want, r.Output.String())
	}
	// The orders before the bad record and in the other partition were
	// logged; the one after it was not processed (it is retried in order).
	logs := waitFor(t, r, `"id":"o-3"`)
	for _, want := range []string{`"message":"order received","id":"o-7"`, `"customer":"c-1"`, `"key":"c-1"`, `"message":"record failed"`, `"offset":8`,
		"decoding the value: invalid character", `"requestId":`, `"Namespace":"msklink"`, `"RecordsFailed":1`, `"FunctionName":"kafka-consumer"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("output lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "offset 8: kafkaesm:") {
		t.Errorf("the error names the record twice:\n%s", logs)
	}
	if strings.Contains(logs, `"id":"o-9"`) {
		t.Errorf("o-9, after the failed record, was processed:\n%s", logs)
	}

	// A batch as large as a mapping sends: 10,000 orders in 10 partitions.
	big := map[string]any{"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/shop/u-1"}
	recs := map[string][]map[string]any{}
	for i := range 10000 {
		k := fmt.Sprintf("orders-%d", i%10)
		recs[k] = append(recs[k], map[string]any{"topic": "orders", "partition": i % 10, "offset": i / 10, "timestamp": time.Now().UnixMilli(), "timestampType": "CREATE_TIME",
			"value": base64.StdEncoding.EncodeToString(fmt.Appendf(nil, `{"id":"o-%d","customer":"c-%d","items":%d,"total":%d.5}`, i, i%97, i%5+1, i%300))})
	}
	big["records"] = recs
	payload, _ := json.Marshal(big)
	out, el := r.Invoke(t, payload, 60*time.Second)
	if string(out) != `{"batchItemFailures":[]}` {
		t.Fatalf("10,000 orders: %.300s", out)
	}
	t.Logf("10,000 orders (%.1f MB event) processed under RIE in %s", float64(len(payload))/1e6, el.Round(time.Millisecond))

	r2 := testutil.StartRIE(t, bootstrap, 10)
	out, _ = r2.Invoke(t, orderEvent(), 30*time.Second)
	var fe struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(out, &fe); err != nil || fe.ErrorType != "BatchError" || !strings.Contains(fe.ErrorMessage, "orders-0 offset 8") {
		t.Fatalf("without partial responses: %s", out)
	}
}

// waitFor returns RIE's output once it contains s (logs reach it
// asynchronously).
func waitFor(t *testing.T, r *testutil.RIE, s string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := r.Output.String()
		if strings.Contains(out, s) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}
