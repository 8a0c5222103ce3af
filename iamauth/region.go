package iamauth

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoRegion is returned when no region was given and none could be
// inferred.
var ErrNoRegion = errors.New("iamauth: no AWS region: pass one (--region, WithRegion), use MSK broker host names, or set AWS_REGION")

// isRegionName reports whether s has the shape of an AWS region name:
// two letters, one or more dash-separated words, and a number of one or
// two digits, all lower case (what the regular expression
// ^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$ matches, without compiling one when
// every msklink command starts).
func isRegionName(s string) bool {
	if len(s) < 2 || !isLower(s[0]) || !isLower(s[1]) {
		return false
	}
	dash := strings.LastIndexByte(s, '-')
	if dash < 0 {
		return false
	}
	num := s[dash+1:]
	if len(num) < 1 || len(num) > 2 || strings.Trim(num, "0123456789") != "" {
		return false
	}
	// Between them: "-east", "-gov-west", each dash before a letter.
	words := s[2:dash]
	if words == "" || words[0] != '-' {
		return false
	}
	for i := 0; i < len(words); i++ {
		switch c := words[i]; {
		case c == '-' && (i+1 == len(words) || words[i+1] == '-'):
			return false
		case c != '-' && !isLower(c):
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return 'a' <= c && c <= 'z' }

// ValidateRegion reports whether region looks like an AWS region name
// (us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...).
func ValidateRegion(region string) error {
	switch {
	case region == "":
		return ErrNoRegion
	case !isRegionName(region):
		return fmt.Errorf("iamauth: region %q is not an AWS region name (like us-east-1): check the spelling", region)
	}
	return nil
}

// awsSuffixes are the DNS suffixes under which MSK broker names carry their
// region as the label just before the suffix. Longer suffixes come first so
// that ".vpce.amazonaws.com" wins over ".amazonaws.com".
var awsSuffixes = []string{
	".vpce.amazonaws.com",
	".vpce.amazonaws.com.cn",
	".amazonaws.com.cn",
	".amazonaws.com",
}

// RegionFromHost returns the region in an MSK host name, such as
// b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com (provisioned),
// boot-xyz.c1.kafka-serverless.eu-west-1.amazonaws.com (serverless) or
// vpce-0123.kafka.us-west-2.vpce.amazonaws.com (multi-VPC). The region is
// the label right before the AWS suffix, never a substring found elsewhere
// in the name (a cluster called "us-west-2-test" in us-east-1 is in
// us-east-1). A port, if any, is ignored. ok is false for other hosts.
func RegionFromHost(host string) (region string, ok bool) {
	if h, _, found := strings.Cut(host, ":"); found && !strings.Contains(h, "]") {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, suffix := range awsSuffixes {
		prefix, found := strings.CutSuffix(host, suffix)
		if !found {
			continue
		}
		label := prefix[strings.LastIndexByte(prefix, '.')+1:]
		if isRegionName(label) {
			return label, true
		}
		return "", false
	}
	return "", false
}
