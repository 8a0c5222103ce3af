package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

func writeEvent(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInvokeDirect(t *testing.T) {
	useEmulator(t, "inv")
	ev := writeEvent(t, `{"topic": "inv", "records": [{"key": "a", "value": "one"}, {"key": "b", "value": {"n": 2}, "partition": 1}]}`)
	out, errOut, code := runCLI(t, "", "invoke", "--event", ev, "--request-id", "req-42", "--metrics")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	var resp struct {
		Results []struct {
			Topic     string
			Partition *int32
			Offset    *int64
		}
		Acked, Failed, Unconfirmed int
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil || resp.Acked != 2 || len(resp.Results) != 2 || *resp.Results[1].Partition != 1 {
		t.Fatalf("stdout %q (%v)", out, err)
	}
	if !strings.Contains(errOut, `"requestId":"req-42"`) || !strings.Contains(errOut, `"RecordsAcked":2`) {
		t.Errorf("stderr lacks the request id or the metrics:\n%s", errOut)
	}
	got, errOut, code := runCLI(t, "", "consume", "--topic", "inv", "--from-beginning", "--max", "2", "--json", "--timeout", "20s")
	if code != 0 || !strings.Contains(got, `"one"`) || !strings.Contains(got, `{\"n\":2}`) && !strings.Contains(got, `{"n":2}`) {
		t.Errorf("consume exit %d: %s %s", code, got, errOut)
	}
}

func TestInvokeStdinAndSource(t *testing.T) {
	useEmulator(t, "inv")
	sqs := `{"Records": [{"messageId": "m1", "body": "hi", "eventSource": "aws:sqs"}]}`
	out, errOut, code := runCLI(t, sqs, "invoke", "--event", "-", "--topic", "inv", "--source", "sqs", "--quiet")
	if code != 0 || strings.TrimSpace(out) != `{"batchItemFailures":[]}` || errOut != "" {
		t.Fatalf("exit %d: %q %q", code, out, errOut)
	}
}

func TestInvokeInvalidEvent(t *testing.T) {
	useEmulator(t, "inv")
	ev := writeEvent(t, `{"topic": "inv", "records": [{"value": "ok"}, {"value": {"base64": "%%"}}]}`)
	out, _, code := runCLI(t, "", "invoke", "--event", ev, "--quiet")
	var le struct{ ErrorMessage, ErrorType string }
	if code != 1 || json.Unmarshal([]byte(out), &le) != nil || le.ErrorType != "InputError" || !strings.Contains(le.ErrorMessage, "records[1].value.base64") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestInvokeDeadline(t *testing.T) {
	c := useEmulator(t, "inv")
	ev := writeEvent(t, `{"topic": "inv", "records": [{"value": "slow"}]}`)
	// Every answer is late: Init's Warm gives up after its timeout, and
	// the invocation answers before its deadline with the record not
	// acked (invoke itself fails if the handler answers late).
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 5 * time.Second})
	}
	start := time.Now()
	out, errOut, code := runCLI(t, "", "invoke", "--event", ev, "--timeout", "1500ms", "--quiet")
	el := time.Since(start)
	if code != 1 || !strings.Contains(out, `"unconfirmed":1`) && !strings.Contains(out, `"failed":1`) {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	t.Logf("invoke with an impossible deadline took %v (Init included): %s", el.Round(time.Millisecond), strings.TrimSpace(out))
}

func TestInvokeUsage(t *testing.T) {
	for _, args := range [][]string{
		{"invoke"},
		{"invoke", "--event", "x.json", "extra"},
		{"invoke", "--event", "x.json", "--timeout", "0s"},
		{"invoke", "--event", "x.json", "--source", "kinesis"},
	} {
		if _, errOut, code := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
}

// TestInvokeDoctor checks that invoke answers the doctor event as the
// bootstrap does, with the command line's connection settings, and exits 1
// when the report finds a problem.
func TestInvokeDoctor(t *testing.T) {
	useEmulator(t, "inv")
	ev := writeEvent(t, `{"msklink": "doctor", "topic": "inv"}`)
	out, errOut, code := runCLI(t, "", "invoke", "--event", ev, "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	checkDoctorJSON(t, out, true, "ok")
	// The flags win over MSK_REGION, as for the handler's own client.
	out, errOut, code = runCLI(t, "", "invoke", "--event", ev, "--quiet", "--region", "us-west-2")
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s %s", code, out, errOut)
	}
	checkDoctorJSON(t, out, false, "token_region")
}
