package eventfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestMatch: each rule of Lambda's filter syntax, matching and not, on
// JSON and plain-string values.
func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		name, pattern string
		match, miss   []string // values
	}{
		{"equals", `{"value": {"Name": ["Alice"]}}`,
			[]string{`{"Name":"Alice"}`, `{"Name":"Alice","x":1}`}, []string{`{"Name":"alice"}`, `{"Name":"Alice "}`, `{"name":"Alice"}`, `{}`}},
		{"equals number by text", `{"value": {"Price": [300]}}`,
			[]string{`{"Price":300}`}, []string{`{"Price":300.0}`, `{"Price":3.0e2}`, `{"Price":"300"}`}},
		{"equals bool", `{"value": {"ok": [true]}}`,
			[]string{`{"ok":true}`}, []string{`{"ok":false}`, `{"ok":"true"}`}},
		{"null", `{"value": {"UserID": [null]}}`,
			[]string{`{"UserID":null}`}, []string{`{"UserID":""}`, `{}`, `{"UserID":"null"}`}},
		{"empty", `{"value": {"LastName": [""]}}`,
			[]string{`{"LastName":""}`}, []string{`{"LastName":null}`, `{}`, `{"LastName":" "}`}},
		{"and", `{"value": {"Location": ["New York"], "Day": ["Monday"]}}`,
			[]string{`{"Location":"New York","Day":"Monday"}`}, []string{`{"Location":"New York","Day":"Tuesday"}`, `{"Location":"New York"}`}},
		{"or values", `{"value": {"PaymentType": ["Credit", "Debit"]}}`,
			[]string{`{"PaymentType":"Credit"}`, `{"PaymentType":"Debit"}`}, []string{`{"PaymentType":"Cash"}`}},
		{"$or fields", `{"value": {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}}`,
			[]string{`{"Location":"New York"}`, `{"Day":"Monday"}`, `{"Location":"Paris","Day":"Monday"}`}, []string{`{"Location":"Paris","Day":"Sunday"}`, `{}`}},
		{"$or at the top", `{"$or": [{"value": {"a": ["x"]}}, {"value": {"b": ["y"]}}]}`,
			[]string{`{"a":"x"}`, `{"b":"y"}`}, []string{`{"a":"y","b":"x"}`}},
		{"anything-but list", `{"value": {"Weather": [{"anything-but": ["Raining", "Snowing"]}]}}`,
			[]string{`{"Weather":"Sunny"}`, `{"Weather":5}`, `{"Weather":null}`}, []string{`{"Weather":"Raining"}`, `{"Weather":"Snowing"}`, `{}`}},
		{"anything-but string", `{"value": {"state": [{"anything-but": "initializing"}]}}`,
			[]string{`{"state":"running"}`}, []string{`{"state":"initializing"}`}},
		{"anything-but number", `{"value": {"n": [{"anything-but": [1, 2]}]}}`,
			[]string{`{"n":3}`, `{"n":"1"}`}, []string{`{"n":1}`, `{"n":2}`}},
		{"numeric equals", `{"value": {"Price": [{"numeric": ["=", 100]}]}}`,
			[]string{`{"Price":100}`, `{"Price":100.0}`, `{"Price":1e2}`}, []string{`{"Price":101}`, `{"Price":"100"}`}},
		{"numeric range", `{"value": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}`,
			[]string{`{"Price":20}`, `{"Price":10.5}`}, []string{`{"Price":10}`, `{"Price":20.01}`, `{"Price":-15}`}},
		{"numeric open", `{"value": {"t": [{"numeric": ["<", 0]}]}}`,
			[]string{`{"t":-1}`, `{"t":-0.5}`}, []string{`{"t":0}`, `{"t":1}`}},
		{"exists", `{"value": {"ProductName": [{"exists": true}]}}`,
			[]string{`{"ProductName":"x"}`, `{"ProductName":null}`, `{"ProductName":[1]}`}, []string{`{}`, `{"ProductName":{"a":1}}`, `{"ProductName":[]}`}},
		{"does not exist", `{"value": {"ProductName": [{"exists": false}]}}`,
			[]string{`{}`, `{"Other":1}`, `{"ProductName":{"a":1}}`}, []string{`{"ProductName":"x"}`, `{"ProductName":null}`}},
		{"exists false nested, parent missing", `{"value": {"a": {"b": [{"exists": false}]}}}`,
			[]string{`{}`, `{"a":{}}`, `{"a":1}`}, []string{`{"a":{"b":1}}`}},
		{"prefix", `{"value": {"device_ID": [{"prefix": "AB"}]}}`,
			[]string{`{"device_ID":"AB1234"}`, `{"device_ID":"AB"}`}, []string{`{"device_ID":"ab1234"}`, `{"device_ID":"XAB"}`, `{"device_ID":12}`}},
		{"prefix ignore case", `{"value": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}`,
			[]string{`{"service":"eventbridge"}`, `{"service":"EVENTBRIDGE"}`}, []string{`{"service":"xeventb"}`}},
		{"suffix", `{"value": {"FileName": [{"suffix": ".png"}]}}`,
			[]string{`{"FileName":"a.png"}`}, []string{`{"FileName":"a.PNG"}`, `{"FileName":"a.png.txt"}`}},
		{"suffix ignore case", `{"value": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}`,
			[]string{`{"FileName":"a.PNG"}`, `{"FileName":"b.png"}`}, []string{`{"FileName":"a.jpg"}`}},
		{"equals-ignore-case", `{"value": {"Name": [{"equals-ignore-case": "alice"}]}}`,
			[]string{`{"Name":"ALICE"}`, `{"Name":"Alice"}`}, []string{`{"Name":"Alic"}`, `{"Name":1}`}},
		{"array of leaves", `{"value": {"tags": ["red"]}}`,
			[]string{`{"tags":["blue","red"]}`, `{"tags":"red"}`}, []string{`{"tags":["blue"]}`, `{"tags":[]}`}},
		{"array of objects", `{"value": {"items": {"sku": [{"prefix": "A"}], "qty": [{"numeric": [">", 1]}]}}}`,
			[]string{`{"items":[{"sku":"B1","qty":5},{"sku":"A1","qty":2}]}`}, []string{`{"items":[{"sku":"A1","qty":1},{"sku":"B1","qty":5}]}`}},
		{"nested", `{"value": {"session": {"duration": [{"numeric": [">=", 100]}]}}}`,
			[]string{`{"session":{"duration":162}}`}, []string{`{"session":{"duration":99}}`, `{"session":162}`, `{}`}},
		{"JSON array value", `{"value": {"a": ["x"]}}`,
			[]string{`[{"a":"y"},{"a":"x"}]`}, []string{`[{"a":"y"}]`}},

		// Plain strings.
		{"plain equals", `{"value": ["error"]}`,
			[]string{"error"}, []string{"Error", "error ", "warning"}},
		{"plain anything-but", `{"value": [{"anything-but": ["error"]}]}`,
			[]string{"ok", "Error"}, []string{"error"}},
		{"plain prefix", `{"value": [{"prefix": "Result: "}]}`,
			[]string{"Result: 42"}, []string{"result: 42"}},
		{"plain empty", `{"value": [""]}`,
			[]string{""}, []string{" "}},
		{"plain bare number is text", `{"value": ["42"]}`,
			[]string{"42"}, []string{"43"}},
		{"plain numeric needs a number", `{"value": [{"numeric": [">", 1]}]}`,
			nil, []string{"42", "abc"}},
		{"plain exists", `{"value": [{"exists": true}]}`,
			[]string{"x", ""}, nil},

		// Format mismatch, not UTF-8, null: metadata filters only, which
		// Kafka patterns do not have: delivered.
		{"JSON pattern, plain value", `{"value": {"a": ["x"]}}`,
			[]string{"plain text", "42"}, nil},
		{"plain pattern, JSON value", `{"value": ["error"]}`,
			[]string{`{"a":"error"}`, `["error"]`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(tc.pattern)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tc.pattern, err)
			}
			for _, v := range tc.match {
				if !c.Match([]byte(v)) {
					t.Errorf("%s does not match %s; want a match", tc.pattern, v)
				}
			}
			for _, v := range tc.miss {
				if c.Match([]byte(v)) {
					t.Errorf("%s matches %s; want no match", tc.pattern, v)
				}
			}
		})
	}
}

// TestMatchNoValue: a tombstone (null value) and a value that is not
// UTF-8 leave Lambda only metadata filters: every Kafka filter matches.
func TestMatchNoValue(t *testing.T) {
	c, err := Compile(`{"value": ["x"]}`, `{"value": {"a": ["x"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]byte{nil, {0xff, 0xfe, 'x'}} {
		if !c.Match(v) {
			t.Errorf("Match(%q) = false; want true (metadata filters only)", v)
		}
	}
	plain, err := Compile(`{"value": ["x"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Match([]byte("y")) || !plain.Match(nil) || !plain.Match([]byte{0xff}) {
		t.Error(`{"value": ["x"]}: want "y" filtered out, a null and a non-UTF-8 value delivered`)
	}
}

// TestMatchAnyFilter: filters are alternatives; no filters match all.
func TestMatchAnyFilter(t *testing.T) {
	c, err := Compile(`{"value": {"t": ["a"]}}`, `{"value": {"t": ["b"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{`{"t":"a"}`: true, `{"t":"b"}`: true, `{"t":"c"}`: false} {
		if got := c.Match([]byte(v)); got != want {
			t.Errorf("Match(%s) = %v; want %v", v, got, want)
		}
	}
	var none *Criteria
	if !none.Match([]byte("x")) {
		t.Error("a nil Criteria must match every record")
	}
	empty, err := Parse([]byte(`{}`))
	if err != nil || empty.Len() != 0 || !empty.Match([]byte("x")) {
		t.Errorf("Parse({}) = %v, %v; want no filters, matching all", empty, err)
	}
}

// TestParse reads FilterCriteria as the AWS CLI takes it and writes it
// back the same.
func TestParse(t *testing.T) {
	doc := `{"Filters": [{"Pattern": "{ \"value\" : { \"device_ID\" : [ { \"prefix\": \"AB\" } ] } }"}, {"Pattern": "{ \"value\" : [ { \"anything-but\": [ \"error\" ] } ] }"}]}`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 2 || !c.Match([]byte(`{"device_ID":"AB1"}`)) || !c.Match([]byte("fine")) {
		t.Fatalf("parsed criteria match wrongly")
	}
	// One filter of each format: each record meets one filter of the
	// other format, which leaves it metadata filters only: all match.
	if !c.Match([]byte("error")) || !c.Match([]byte(`{"device_ID":"X"}`)) {
		t.Fatalf("a record must match a filter of the other format (kafka-filtering.html's table)")
	}
	one, err := Parse([]byte(`{"Filters": [{"Pattern": "{ \"value\" : { \"device_ID\" : [ { \"prefix\": \"AB\" } ] } }"}]}`))
	if err != nil || one.Match([]byte(`{"device_ID":"X"}`)) || !one.Match([]byte(`{"device_ID":"ABC"}`)) {
		t.Fatalf("one filter: %v", err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out)
	if err != nil || strings.Join(back.Patterns(), "\n") != strings.Join(c.Patterns(), "\n") {
		t.Fatalf("round trip: %s -> %v, %v", out, back.Patterns(), err)
	}
	j, err := Join(c, back)
	if err != nil || j.Len() != 4 {
		t.Fatalf("Join: %v, %v", j.Len(), err)
	}
}

// TestErrors: each invalid pattern is refused with the filter, the path
// and the operator at fault.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns []string
		want     string // in Error()
		path, op string
		is       error
	}{
		{"not JSON", []string{`{"value": [`}, "filter 1: not JSON", "", "", nil},
		{"not an object", []string{`["x"]`}, "a pattern is a JSON object", "", "", nil},
		{"trailing text", []string{`{"value":["x"]} x`}, "text after", "", "", nil},
		{"empty", []string{`{}`}, `the pattern has no rule`, "", "", nil},
		{"key", []string{`{"key": ["x"]}`}, `key: Amazon MSK and self-managed Kafka event source mappings filter on the record's "value" only`, "key", "", ErrNotValue},
		{"key in $or", []string{`{"$or": [{"value": ["x"]}, {"topic": ["t"]}]}`}, `$or[1].topic:`, "$or[1].topic", "", ErrNotValue},
		{"second filter", []string{`{"value": ["x"]}`, `{"value": {"n": [{"numeric": [">", "ten"]}]}}`}, `filter 2: value.n[0] ("numeric"): element 1: give a number after ">"`, "value.n[0]", "numeric", nil},
		{"numeric range empty", []string{`{"value": {"n": [{"numeric": [">", 20, "<", 10]}]}}`}, "the range is empty", "value.n[0]", "numeric", nil},
		{"numeric two lower", []string{`{"value": {"n": [{"numeric": [">", 1, ">=", 2]}]}}`}, "two lower bounds", "value.n[0]", "numeric", nil},
		{"numeric out of range", []string{`{"value": {"n": [{"numeric": ["<", 6e9]}]}}`}, "out of range", "value.n[0]", "numeric", nil},
		{"numeric bad op", []string{`{"value": {"n": [{"numeric": ["!=", 1]}]}}`}, `unknown operator "!="`, "value.n[0]", "numeric", nil},
		{"numeric = in a range", []string{`{"value": {"n": [{"numeric": ["=", 1, "<", 2]}]}}`}, `"=" stands alone`, "value.n[0]", "numeric", nil},
		{"numeric not a list", []string{`{"value": {"n": [{"numeric": 5}]}}`}, `give ["=", 100]`, "value.n[0]", "numeric", nil},
		{"exists", []string{`{"value": {"n": [{"exists": "yes"}]}}`}, "give true or false", "value.n[0]", "exists", nil},
		{"prefix", []string{`{"value": {"n": [{"prefix": 1}]}}`}, "give a string", "value.n[0]", "prefix", nil},
		{"prefix ignore case bad", []string{`{"value": {"n": [{"prefix": {"equals-ignore-case": 1}}]}}`}, "give a string", "value.n[0]", "prefix", nil},
		{"equals-ignore-case", []string{`{"value": {"n": [{"equals-ignore-case": ["a"]}]}}`}, "give a string", "value.n[0]", "equals-ignore-case", nil},
		// Event-bus-only operators ("Pipe support: No") and cidr: refused
		// as Lambda refuses them, whatever their operand.
		{"cidr", []string{`{"value": {"ip": [{"cidr": "10.0.0.0/24"}]}}`}, "no IP address (cidr) operator", "value.ip[0]", "cidr", ErrUnsupported},
		{"cidr in $or", []string{`{"value": {"$or": [{"a": ["x"]}, {"ip": [{"cidr": "::/0"}]}]}}`}, `value.$or[1].ip[0] ("cidr")`, "value.$or[1].ip[0]", "cidr", ErrUnsupported},
		{"wildcard", []string{`{"value": {"f": [{"wildcard": "dir/*.png"}]}}`}, "no wildcard operator", "value.f[0]", "wildcard", ErrUnsupported},
		{"wildcard plain", []string{`{"value": [{"wildcard": "*"}]}`}, `"Pipe support: No"`, "value[0]", "wildcard", ErrUnsupported},
		{"anything-but prefix", []string{`{"value": {"f": [{"anything-but": {"prefix": "us-"}}]}}`}, `no anything-but with "prefix"`, "value.f[0]", "anything-but", ErrUnsupported},
		{"anything-but suffix", []string{`{"value": {"f": [{"anything-but": {"suffix": ".png"}}]}}`}, `no anything-but with "suffix"`, "value.f[0]", "anything-but", ErrUnsupported},
		{"anything-but equals-ignore-case", []string{`{"value": {"f": [{"anything-but": {"equals-ignore-case": "x"}}]}}`}, `no anything-but with "equals-ignore-case"`, "value.f[0]", "anything-but", ErrUnsupported},
		{"anything-but wildcard", []string{`{"value": {"f": [{"anything-but": {"wildcard": "*/lib/*"}}]}}`}, `no anything-but with "wildcard"`, "value.f[0]", "anything-but", ErrUnsupported},
		{"anything-but other object", []string{`{"value": {"f": [{"anything-but": {"numeric": [">", 1]}}]}}`}, "give a string, a number, or a list", "value.f[0]", "anything-but", nil},
		{"anything-but mixed", []string{`{"value": {"f": [{"anything-but": ["a", 1]}]}}`}, "not both", "value.f[0]", "anything-but", nil},
		{"anything-but empty", []string{`{"value": {"f": [{"anything-but": []}]}}`}, "non-empty list", "value.f[0]", "anything-but", nil},
		{"unknown operator", []string{`{"value": {"f": [{"contains": "x"}]}}`}, "unknown operator; Lambda's are", "value.f[0]", "contains", nil},
		{"two operators", []string{`{"value": {"f": [{"prefix": "a", "suffix": "b"}]}}`}, "exactly one operator", "value.f[0]", "", nil},
		{"empty list", []string{`{"value": {"f": []}}`}, "an empty list matches nothing", "value.f", "", nil},
		{"scalar field", []string{`{"value": {"f": "x"}}`}, `a field's rules are a list`, "value.f", "", nil},
		{"list in a list", []string{`{"value": {"f": [["x"]]}}`}, "got a list", "value.f[0]", "", nil},
		{"$or one branch", []string{`{"value": {"$or": [{"a": ["x"]}]}}`}, "two or more pattern objects", "value.$or", "$or", nil},
		{"$or not objects", []string{`{"value": {"$or": ["a", "b"]}}`}, "each branch is a pattern object", "value.$or[0]", "$or", nil},
		{"too long", []string{`{"value": ["` + strings.Repeat("x", MaxPatternLength) + `"]}`}, "Lambda's limit is 4096", "", "", ErrTooLong},
		{"too many", make([]string, MaxFilters+1), "11 filters; Lambda allows 5", "", "", ErrTooMany},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.patterns...)
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("Compile: %v; want a *PatternError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want it to contain %q", err, tc.want)
			}
			if pe.Path != tc.path || pe.Operator != tc.op {
				t.Errorf("path %q operator %q; want %q %q", pe.Path, pe.Operator, tc.path, tc.op)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

// TestParseErrors: a bad FilterCriteria document names what is wrong.
func TestParseErrors(t *testing.T) {
	for doc, want := range map[string]string{
		`[]`:                            "not a FilterCriteria document",
		`{"Filter": []}`:                `unknown field "Filter"`,
		`{"Filters": [{}]}`:             `filter 1: no "Pattern"`,
		`{"Filters": [{"Pattern": 1}]}`: "not a FilterCriteria document",
		`{"Filters": [{"Pattern": "{\"value\": {\"a\": [{\"exists\": 1}]}}"}]}`: `filter 1: value.a[0] ("exists")`,
	} {
		_, err := Parse([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v; want an error containing %q", doc, err, want)
		}
	}
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		`{"value": {"device_ID": [{"prefix": "AB"}]}}`, `{"value": [{"anything-but": ["error"]}]}`,
		`{"value": {"n": [{"numeric": [">", 10, "<=", 20]}], "$or": [{"a": [null]}, {"b": [{"exists": false}]}]}}`,
		`{"value": {"ip": [{"prefix": "10."}], "s": [{"suffix": {"equals-ignore-case": "X"}}]}}`,
		`{"value": {"f": [{"wildcard": "*.png"}], "ip": [{"cidr": "10.0.0.0/8"}]}}`,
		`{"value": {"f": [{"anything-but": {"suffix": ".png"}}]}}`,
	} {
		f.Add(s, `{"device_ID":"AB1","n":15,"ip":"10.1.2.3","s":"ax","a":null}`)
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		c, err := Compile(pattern)
		var v any
		refused := json.Unmarshal([]byte(pattern), &v) == nil && hasRefused(v)
		if err != nil {
			var pe *PatternError
			if !errors.As(err, &pe) {
				t.Fatalf("Compile error %T %v; want *PatternError", err, err)
			}
			if errors.Is(err, ErrUnsupported) && !refused {
				t.Fatalf("Compile(%q): %v, but the pattern has no operator Lambda refuses", pattern, err)
			}
			return
		}
		if refused {
			t.Fatalf("Compile(%q) accepted an operator Lambda refuses", pattern)
		}
		got := c.Match([]byte(value))
		// Compiling the same pattern again matches the same way: the
		// matcher holds no state between records.
		c2, err := Compile(c.Patterns()...)
		if err != nil || c2.Match([]byte(value)) != got {
			t.Fatalf("recompiled %q: %v, match differs", pattern, err)
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte(`{"a":"x","n":5,"l":[1,"x",{"b":null}],"ip":"::1"}`))
	f.Add([]byte("plain"))
	f.Add([]byte(`[{"a":"x"}]`))
	c, err := Compile(
		`{"value": {"a": ["x", {"prefix": "y"}], "n": [{"numeric": [">", 1]}]}}`,
		`{"value": {"l": {"b": [null]}, "ip": [{"prefix": "::"}]}}`,
		`{"value": [{"anything-but": ["plain"]}]}`,
		`{"value": {"$or": [{"a": [{"exists": false}]}, {"n": [{"anything-but": [5]}]}]}}`,
	)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		got := c.Match(value)
		// JSON is matched by its content, not its layout: indented
		// (numbers keep their text), the same value matches the same.
		var ind bytes.Buffer
		if isJSONValue(value) && json.Indent(&ind, value, "", "  ") == nil && c.Match(ind.Bytes()) != got {
			t.Fatalf("Match(%q) = %v, indented %v", value, got, !got)
		}
	})
}

// hasRefused reports whether the pattern object v holds, as a rule, an
// operator Lambda refuses: cidr, wildcard, or anything-but with prefix,
// suffix, equals-ignore-case or wildcard. A field of that name (in an
// object, or a $or branch) is no rule.
func hasRefused(v any) bool {
	m, _ := v.(map[string]any)
	for k, x := range m {
		list, isList := x.([]any)
		switch {
		case k == "$or" && isList:
			if slices.ContainsFunc(list, hasRefused) {
				return true
			}
		case isList:
			for _, e := range list {
				r, _ := e.(map[string]any)
				for op, arg := range r {
					if op == "cidr" || op == "wildcard" {
						return true
					}
					ab, _ := arg.(map[string]any)
					for k := range ab {
						if op == "anything-but" && slices.Contains([]string{"prefix", "suffix", "equals-ignore-case", "wildcard"}, k) {
							return true
						}
					}
				}
			}
		default:
			if hasRefused(x) {
				return true
			}
		}
	}
	return false
}

func isJSONValue(v []byte) bool {
	_, ok := decodeJSON(v)
	return ok
}
