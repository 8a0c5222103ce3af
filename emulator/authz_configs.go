package emulator

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iampolicy"
)

// configAllowed checks Describe/Alter*DynamicConfiguration for a config
// resource; the code is the Kafka error for a denial (0 when allowed).
func (c *conn) configAllowed(api int16, rt kmsg.ConfigResourceType, name string, alter bool) (bool, int16) {
	if rt == kmsg.ConfigResourceTypeTopic {
		a := iampolicy.DescribeTopicDynamicConfiguration
		if alter {
			a = iampolicy.AlterTopicDynamicConfiguration
		}
		if c.allowed(api, a, c.topicARN(name)) {
			return true, 0
		}
		return false, errTopicAuthz
	}
	a := iampolicy.DescribeClusterDynamicConfiguration
	if alter {
		a = iampolicy.AlterClusterDynamicConfiguration
	}
	if c.allowed(api, a, c.clusterARN()) {
		return true, 0
	}
	return false, errClusterAz
}

// splitAlterConfigs splits config resources by whether the principal may
// alter them; codes holds each denied resource's error code, in order.
func splitAlterConfigs[T any](c *conn, api int16, resources []T, id func(T) (kmsg.ConfigResourceType, string)) (kept, denied []T, codes []int16) {
	kept, denied = split(resources, func(r T) bool {
		rt, name := id(r)
		ok, code := c.configAllowed(api, rt, name, true)
		if !ok {
			codes = append(codes, code)
		}
		return ok
	})
	return kept, denied, codes
}
