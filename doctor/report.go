package doctor

import (
	"encoding/json"
	"time"
)

// Status is the outcome of one check.
type Status string

// The statuses of a check.
const (
	Pass Status = "pass" // the check succeeded
	Warn Status = "warn" // it works, but something is probably wrong or partly failing
	Fail Status = "fail" // the check failed; the report's Cause says why
	Skip Status = "skip" // not run: an earlier layer failed, or it does not apply
)

// Cause codes: the one verdict of a Report. Their meaning, how to confirm
// and how to fix each is documented in docs/TROUBLESHOOTING.md and in
// CauseInfo.
const (
	CauseOK                    = "ok"
	CauseConfig                = "config"
	CauseCredentials           = "credentials"
	CauseDNS                   = "dns"
	CauseTCPTimeout            = "tcp_timeout"
	CauseTCPRefused            = "tcp_refused"
	CauseTLSRequired           = "tls_required"
	CauseTLSNotOffered         = "tls_not_offered"
	CauseTLSUntrusted          = "tls_untrusted"
	CauseAuthMechanism         = "auth_mechanism"
	CauseTokenRegion           = "token_region"
	CauseTokenExpired          = "token_expired"
	CauseClockSkew             = "clock_skew"
	CauseAuthDenied            = "auth_denied"
	CauseTooManyConnects       = "too_many_connects"
	CauseAdvertisedUnreachable = "advertised_unreachable"
	CauseAuthzTopic            = "authz_topic"
	CauseAuthzIdempotent       = "authz_idempotent"
	CauseAuthzGroup            = "authz_group"
	CauseAuthzRead             = "authz_read"           // ReadData denied to a consumer (WithESM)
	CauseAuthzClusterConfig    = "authz_cluster_config" // DescribeClusterDynamicConfiguration denied (WithESM)
	CauseBrokerTimeout         = "broker_timeout"
	CauseConnectionReset       = "connection_reset"
)

// Check is one step of the diagnosis.
type Check struct {
	Name     string        // e.g. "tcp 10.0.1.5:9098"
	Status   Status        // pass, warn, fail or skip
	Duration time.Duration // how long the check took
	Detail   string        // what was seen, in words
}

// MarshalJSON writes {"name","status","duration_ms","detail"}.
func (c Check) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkJSON{c.Name, c.Status, c.Duration.Milliseconds(), c.Detail})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Check) UnmarshalJSON(b []byte) error {
	var j checkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*c = Check{Name: j.Name, Status: j.Status, Duration: time.Duration(j.DurationMS) * time.Millisecond, Detail: j.Detail}
	return nil
}

type checkJSON struct {
	Name       string `json:"name"`
	Status     Status `json:"status"`
	DurationMS int64  `json:"duration_ms"`
	Detail     string `json:"detail"`
}

// Report is the doctor's verdict: OK, or the Cause of the first layer that
// explains the failure, with a Summary of what was seen and the Fix. Checks
// lists every check in order, skipped ones included.
//
// Its JSON form is exactly
// {"ok","cause","summary","fix","checks":[{"name","status","duration_ms","detail"}]}.
type Report struct {
	OK      bool    `json:"ok"`
	Cause   string  `json:"cause"`
	Summary string  `json:"summary"`
	Fix     string  `json:"fix"`
	Checks  []Check `json:"checks"`
}

// Check returns the first check whose name is name or starts with name+" ",
// and whether there is one.
func (r Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name || len(c.Name) > len(name) && c.Name[:len(name)+1] == name+" " {
			return c, true
		}
	}
	return Check{}, false
}
