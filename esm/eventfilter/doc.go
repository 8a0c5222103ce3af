// Package eventfilter is Lambda's event filtering (FilterCriteria) as an
// event source mapping for Amazon MSK or self-managed Kafka applies it:
// parsed, validated, and matched against record values.
//
//	c, err := eventfilter.Parse([]byte(`{"Filters": [{"Pattern": "{\"value\": {\"device_ID\": [{\"prefix\": \"AB\"}]}}"}]}`))
//	// or eventfilter.Compile(`{"value": {"device_ID": [{"prefix": "AB"}]}}`)
//	if c.Match(record.Value) { /* deliver */ }
//
// Each rule below follows the AWS page named with it: Lambda's under
// https://docs.aws.amazon.com/lambda/latest/dg/, EventBridge's under
// https://docs.aws.amazon.com/eventbridge/latest/userguide/.
//
// # Criteria and limits
//
// A FilterCriteria document is {"Filters": [{"Pattern": "..."}]}, each
// Pattern a JSON object as a string (invocation-eventfiltering.html,
// "Event filtering basics"). A record is delivered when any filter
// matches it, and not delivered otherwise. A mapping has up to 5 filters
// by default and up to 10 with a quota increase (same page); Compile and
// Parse accept 10 (MaxFilters). A Pattern is at most 4096 characters
// (API_Filter.html).
//
// # Kafka: the value only, JSON or plain string
//
// "Amazon MSK and self-managed Apache Kafka event source mappings only
// support filtering on the value key" (kafka-filtering.html): a pattern's
// top-level keys other than "value" (and $or of such) are refused
// (ErrNotValue). The value is matched as JSON when it is a JSON object
// or array, {"value": {"device_ID": [...]}}, and as a plain string
// otherwise, {"value": [{"anything-but": ["error"]}]} (same page). When
// the pattern's format and the value's differ, when the value is not
// UTF-8 ("Lambda decodes Kafka byte arrays into UTF-8 before applying
// filter criteria"), and, by the same rule, for a null value (a
// tombstone), "Lambda processes metadata filters only" (the page's
// table): Kafka patterns have no other filter, so such a record matches
// and is delivered. A bare JSON number, string or literal (42, "x",
// true) is matched as a plain string, its text (this package's reading
// of "valid JSON": the page's examples are objects).
//
// Match takes the value bytes Lambda filters: with a schema registry,
// the value after decoding (Lambda applies filters to the decoded
// record), so a caller decodes first and filters what it would deliver.
//
// # Rule syntax
//
// "For filter rules, Lambda supports the same set of syntax and rules as
// Amazon EventBridge" (invocation-eventfiltering.html, "Filter rule
// syntax"), whose list of "all the comparison operators available for
// Lambda event filtering" is Null, Empty, Equals, Equals (ignore case),
// And, Or, Not (anything-but), Numeric (equals), Numeric (range),
// Exists, Does not exist, Begins with and Ends with. EventBridge's table
// (eb-create-pattern-operators.html) says per operator whether Pipes
// have it ("Pipe support"), and Pipes filter "in the same way as
// filtering on an EventBridge event bus or Lambda event source mapping"
// (eb-pipes-event-filtering.html). Accepted, each "Pipe support: Yes":
//
//   - A pattern object's fields must all match (And); a field's list of
//     rules matches when one rule does (Or). A nested object matches the
//     value's object at that field. "$or": [{...}, {...}] matches when
//     one of its pattern objects does (Or across fields: "Location is
//     "New York", or Day is "Monday"").
//   - Null ([null]), Empty ([""]), Equals (["Alice"], [100], [true]):
//     strings match character by character; numbers by their text: "300,
//     300.0, and 3.0e2 are not considered equal" (invocation-
//     eventfiltering.html).
//   - {"equals-ignore-case": "alice"}; {"prefix": "us-"} and
//     {"suffix": ".png"}, each also as {"prefix": {"equals-ignore-case":
//     "..."}} (Begins with / Ends with (ignore case)).
//   - {"anything-but": "x"}, {"anything-but": 5}, {"anything-but":
//     ["a", "b"]} (strings or numbers): a present value other than those.
//   - {"numeric": ["=", 100]}, {"numeric": [">", 10, "<=", 20]}: one
//     lower and/or one upper bound, operands within ±5.0e9; numbers only.
//   - {"exists": true} / {"exists": false}: the field is (not) present as
//     a leaf ("Exists matching only works on leaf nodes").
//   - Arrays in the value: a rule matches when it matches one element
//     (eb-event-patterns.html: "the event pattern matches if the
//     intersection of the event pattern array and the event array is
//     non-empty"); a nested object matches when one element does.
//
// Refused with ErrUnsupported: the operators EventBridge event buses have
// and Pipes do not ("Event bus support: Yes", "Pipe support: No"), none
// of them in Lambda's list: Wildcard ({"wildcard": "dir/*.png"}) and
// Anything-but with begins with, ends with, ignore case or a wildcard
// ({"anything-but": {"prefix": "us-"}}, ...); and IP address matching
// ({"cidr": "10.0.0.0/24"}), which neither Lambda's list nor EventBridge's
// table has. Validation errors (*PatternError) name the filter, the JSON
// path in its pattern (value.device_ID[0]) and the operator.
package eventfilter
