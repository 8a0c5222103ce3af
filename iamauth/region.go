package iamauth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrNoRegion is returned when no region was given and none could be
// inferred.
var ErrNoRegion = errors.New("iamauth: no AWS region: pass one (--region, WithRegion), use MSK broker host names, or set AWS_REGION")

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// ValidateRegion reports whether region looks like an AWS region name
// (us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...).
func ValidateRegion(region string) error {
	switch {
	case region == "":
		return ErrNoRegion
	case !regionRE.MatchString(region):
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
		if regionRE.MatchString(label) {
			return label, true
		}
		return "", false
	}
	return "", false
}
