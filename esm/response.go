package esm

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ItemIdentifier names a record in a partial batch response, in the
// format AWS documents for Kafka event sources
// (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html,
// "PartialBatchResponse"):
//
//	{"batchItemFailures": [{"itemIdentifier": {"partition": "topic-partition_number", "offset": 100}}]}
//
// Partition is the event's "topic-partition" key, Offset the record's offset.
type ItemIdentifier struct {
	Partition string `json:"partition"`
	Offset    int64  `json:"offset"`
}

// BatchItemFailure is one entry of a partial batch response.
type BatchItemFailure struct {
	ItemIdentifier ItemIdentifier `json:"itemIdentifier"`
}

// BatchResponse is a function's partial batch response.
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// failures reads the records a response reports failed, as AWS's page
// above says Lambda does: an empty or null response, or one without
// failures, is a success; an identifier that is not an object of a
// "partition" string and an "offset" number, or that names a record not in
// the event, makes the response invalid, and the whole batch is retried.
// A response that is not JSON is invalid too. A JSON value that is not an
// object (a string, a number) reports no failures.
func failures(body []byte, sent []*record) (map[*record]bool, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || bytes.Equal(body, []byte("null")) {
		return nil, nil
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // offsets are int64s
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("the response is not JSON: %v", err)
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, nil
	}
	list, ok := obj["batchItemFailures"]
	if !ok || list == nil {
		return nil, nil
	}
	items, ok := list.([]any)
	if !ok {
		return nil, fmt.Errorf(`"batchItemFailures" is %s, not a list`, jsonKind(list))
	}
	index := map[ItemIdentifier]*record{}
	for _, r := range sent {
		index[ItemIdentifier{r.tp.String(), r.r.Offset}] = r
	}
	failed := map[*record]bool{}
	for i, it := range items {
		entry, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("batchItemFailures[%d] is %s, not an object", i, jsonKind(it))
		}
		idv, ok := entry["itemIdentifier"]
		if !ok {
			return nil, fmt.Errorf(`batchItemFailures[%d] has no "itemIdentifier"`, i)
		}
		id, ok := idv.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`batchItemFailures[%d].itemIdentifier is %s: Kafka event sources need {"partition": "topic-partition", "offset": N}`, i, jsonKind(idv))
		}
		part, ok := id["partition"].(string)
		if !ok {
			return nil, fmt.Errorf(`batchItemFailures[%d].itemIdentifier.partition is %s, not a "topic-partition" string`, i, jsonKind(id["partition"]))
		}
		num, ok := id["offset"].(json.Number)
		off, err := num.Int64()
		if !ok || err != nil {
			return nil, fmt.Errorf("batchItemFailures[%d].itemIdentifier.offset is %s, not an integer", i, jsonKind(id["offset"]))
		}
		r, ok := index[ItemIdentifier{part, off}]
		if !ok {
			return nil, fmt.Errorf("batchItemFailures[%d] names %s offset %d, which is not in the event", i, part, off)
		}
		failed[r] = true
	}
	if len(failed) == 0 {
		return nil, nil
	}
	return failed, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		if _, err := v.(json.Number).Int64(); err != nil {
			return "the number " + v.(json.Number).String()
		}
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
