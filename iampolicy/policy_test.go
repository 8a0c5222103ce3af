package iampolicy

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParse(t *testing.T) {
	p := mustParse(t, `{
		"Version": "2012-10-17",
		"Id": "prod",
		"Statement": [
			{"Sid": "A", "Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": "*"},
			{"Effect": "Deny", "NotAction": ["kafka-cluster:Read*", "s3:*"], "NotResource": ["arn:aws:kafka:*:*:topic/*"]}
		]}`)
	if p.Version != Version2012 || p.ID != "prod" || len(p.Statements) != 2 {
		t.Fatalf("got %+v", p)
	}
	st := p.Statements[1]
	if st.Effect != Deny || len(st.NotAction) != 2 || st.NotResource[0] != "arn:aws:kafka:*:*:topic/*" || st.Action != nil {
		t.Fatalf("statement 2: %+v", st)
	}
	// A single statement object.
	p = mustParse(t, `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`)
	if len(p.Statements) != 1 || p.Version != "" {
		t.Fatalf("got %+v", p)
	}
}

func TestParseErrors(t *testing.T) {
	const ok = `"Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": "*"`
	tests := []struct {
		name string
		doc  string
		want error    // sentinel
		msg  []string // substrings of the message
	}{
		{"not json", `{`, ErrInvalid, []string{"not a JSON object"}},
		{"array", `[]`, ErrInvalid, []string{"not a JSON object"}},
		{"null", `null`, ErrInvalid, []string{"null"}},
		{"trailing", `{"Statement": {` + ok + `}} x`, ErrInvalid, []string{"JSON"}},
		{"no statement", `{"Version": "2012-10-17"}`, ErrInvalid, []string{"Statement is missing"}},
		{"empty statement list", `{"Statement": []}`, ErrInvalid, []string{"Statement is empty"}},
		{"statement string", `{"Statement": "x"}`, ErrInvalid, []string{"Statement must be"}},
		{"bad version", `{"Version": "2020-01-01", "Statement": {` + ok + `}}`, ErrInvalid, []string{"Version", "2020-01-01"}},
		{"version number", `{"Version": 1, "Statement": {` + ok + `}}`, ErrInvalid, []string{"Version must be a string"}},
		{"unknown top-level", `{"Foo": 1, "Statement": {` + ok + `}}`, ErrUnsupported, []string{`"Foo" is not a supported top-level element`}},
		{"condition", `{"Statement": [{` + ok + `}, {"Sid": "S2", "Condition": {}, ` + ok + `}]}`, ErrUnsupported,
			[]string{`iampolicy: statement 2 ("S2"): Condition is not supported; remove it or`}},
		{"principal", `{"Statement": {"Principal": "*", ` + ok + `}}`, ErrUnsupported, []string{"statement 1: Principal is not supported"}},
		{"notprincipal", `{"Statement": {"NotPrincipal": {"AWS": "x"}, ` + ok + `}}`, ErrUnsupported, []string{"NotPrincipal is not supported"}},
		{"unknown statement key", `{"Statement": {"Sid": "X", "Bogus": 1, ` + ok + `}}`, ErrUnsupported, []string{`statement 1 ("X"): "Bogus" is not a supported statement element`}},
		{"statement not object", `{"Statement": [1]}`, ErrInvalid, []string{"statement 1 is not a JSON object"}},
		{"unknown effect", `{"Statement": {"Sid": "E", "Effect": "Permit", "Action": "*", "Resource": "*"}}`, ErrInvalid, []string{`statement 1 ("E"): Effect "Permit"`}},
		{"lowercase effect", `{"Statement": {"Effect": "allow", "Action": "*", "Resource": "*"}}`, ErrInvalid, []string{`Effect "allow"`}},
		{"missing effect", `{"Statement": {"Action": "*", "Resource": "*"}}`, ErrInvalid, []string{"Effect is missing"}},
		{"effect number", `{"Statement": {"Effect": 1, "Action": "*", "Resource": "*"}}`, ErrInvalid, []string{"Effect must be a string"}},
		{"action and notaction", `{"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}}`, ErrInvalid, []string{"Action and NotAction are both present"}},
		{"no action", `{"Statement": {"Effect": "Allow", "Resource": "*"}}`, ErrInvalid, []string{"Action is missing"}},
		{"empty action list", `{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}`, ErrInvalid, []string{"Action is an empty array"}},
		{"action number", `{"Statement": {"Effect": "Allow", "Action": 3, "Resource": "*"}}`, ErrInvalid, []string{"Action must be a string or an array of strings"}},
		{"action mixed list", `{"Statement": {"Effect": "Allow", "Action": ["a:b", 3], "Resource": "*"}}`, ErrInvalid, []string{"Action must be"}},
		{"action no colon", `{"Statement": {"Sid": "W", "Effect": "Allow", "Action": ["kafka-cluster:Connect", "WriteData"], "Resource": "*"}}`, ErrInvalid, []string{`statement 1 ("W"): Action[1] "WriteData" is not`}},
		{"notaction empty name", `{"Statement": {"Effect": "Allow", "NotAction": "kafka-cluster:", "Resource": "*"}}`, ErrInvalid, []string{`NotAction[0]`}},
		{"resource and notresource", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"}}`, ErrInvalid, []string{"Resource and NotResource are both present"}},
		{"no resource", `{"Statement": {"Effect": "Allow", "Action": "*"}}`, ErrInvalid, []string{"Resource is missing"}},
		{"resource not arn", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "my-topic"}}`, ErrInvalid, []string{`Resource[0] "my-topic" is not`}},
		{"policy variable", `{"Statement": {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:kafka:us-east-1:123456789012:topic/c/u/${aws:username}"}}`, ErrUnsupported, []string{"NotResource[0]", "policy variable"}},
		{"bad sid", `{"Statement": {"Sid": "no spaces", ` + ok + `}}`, ErrInvalid, []string{"Sid must contain only"}},
		{"sid number", `{"Statement": {"Sid": 1, ` + ok + `}}`, ErrInvalid, []string{"Sid must be a string"}},
		{"duplicate sid", `{"Statement": [{"Sid": "A", ` + ok + `}, {"Sid": "A", ` + ok + `}]}`, ErrInvalid, []string{`statement 2 ("A"): Sid duplicates the Sid of statement 1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %v", err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
			if !strings.HasPrefix(err.Error(), "iampolicy: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	p := mustParse(t, `{"Statement": [
		{"Sid": "B", "Effect": "Allow", "Action": ["kafka-cluster:WriteData", "kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"], "Resource": "arn:aws:kafka:us-east-1:123456789012:topic/c/u/*"},
		{"Effect": "Deny", "NotAction": "kafka-cluster:Connect", "NotResource": "*"}]}`)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Allow","Action":["kafka-cluster:DescribeTopic","kafka-cluster:WriteData"],"Resource":["arn:aws:kafka:us-east-1:123456789012:topic/c/u/*"]},{"Effect":"Deny","NotAction":["kafka-cluster:Connect"],"NotResource":["*"]}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var q Policy
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	b2, err := json.Marshal(&q)
	if err != nil || string(b2) != string(b) {
		t.Errorf("second round trip: %s, %v", b2, err)
	}
	// Invalid policies do not marshal.
	bad := &Policy{Statements: []Statement{{Effect: "Maybe", Action: []string{"*"}, Resource: []string{"*"}}}}
	if _, err := json.Marshal(bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("marshal of invalid policy: %v", err)
	}
	// Unmarshal reports parse errors.
	if err := json.Unmarshal([]byte(`{"Statement": {"Condition": {}, "Effect": "Allow", "Action": "*", "Resource": "*"}}`), &q); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unmarshal: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kafka-cluster:*","Resource":"*"}}`,
		`{"Statement":[{"Sid":"a","Effect":"Deny","NotAction":["x:y"],"NotResource":"arn:aws:kafka:*:*:topic/*"}]}`,
		`{"Statement":[{"Condition":{}}]}`,
		`[]`, `null`, `{"Statement":null}`, `{"Statement":[null]}`,
	} {
		f.Add([]byte(s), "kafka-cluster:WriteData", "arn:aws:kafka:us-east-1:123456789012:topic/c/u/t")
	}
	f.Fuzz(func(t *testing.T, data []byte, action, resource string) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatal("non-nil policy with error")
			}
			_ = err.Error()
			return
		}
		_ = p.Evaluate(action, resource).String()
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("valid policy does not marshal: %v", err)
		}
		q, err := Parse(b)
		if err != nil {
			t.Fatalf("marshaled policy does not parse: %v\n%s", err, b)
		}
		if got, want := q.Evaluate(action, resource).Outcome, p.Evaluate(action, resource).Outcome; got != want {
			t.Fatalf("outcome changed by round trip: %v vs %v", got, want)
		}
	})
}

func TestUnknownActions(t *testing.T) {
	p := mustParse(t, `{"Statement": [
		{"Effect": "Allow", "Action": ["kafka-cluster:WriteDate", "kafka-cluster:writedata", "kafka-cluster:Wirte*", "KAFKA-CLUSTER:*Topic", "s3:Nope", "*"], "Resource": "*"},
		{"Effect": "Deny", "NotAction": ["kafka-cluster:WriteDate", "kafka-cluster:Describe?roup"], "Resource": "*"}]}`)
	got := p.UnknownActions()
	want := []string{"kafka-cluster:Wirte*", "kafka-cluster:WriteDate"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("UnknownActions = %v, want %v", got, want)
	}
}
