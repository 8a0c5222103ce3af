package iampolicy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidARN is wrapped by every error from [ParseClusterARN].
var ErrInvalidARN = errors.New("iampolicy: invalid MSK cluster ARN")

// ARNError describes what is malformed in an ARN.
type ARNError struct {
	ARN    string // the input
	Field  string // "prefix", "partition", "service", "region", "account", "resource", "cluster name", "cluster uuid"
	Reason string
}

// Error names the ARN and its malformed part.
func (e *ARNError) Error() string {
	return fmt.Sprintf("iampolicy: invalid MSK cluster ARN %q: %s %s", e.ARN, e.Field, e.Reason)
}

// Unwrap returns [ErrInvalidARN].
func (e *ARNError) Unwrap() error { return ErrInvalidARN }

// ClusterARN identifies an MSK cluster (provisioned or serverless):
// arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>.
// Its methods build the ARNs of the cluster's topics, groups and
// transactional IDs, which IAM policies for kafka-cluster actions name.
type ClusterARN struct {
	Partition string // "aws", "aws-cn", "aws-us-gov", ...; "" means "aws"
	Region    string // e.g. "us-east-1"
	Account   string // 12-digit AWS account ID
	Name      string // cluster name
	UUID      string // the cluster's UUID suffix, e.g. "0b0b0b0b-...-2"
}

// ParseClusterARN parses an MSK cluster ARN such as
// "arn:aws:kafka:us-east-1:123456789012:cluster/demo/0b7c1a5e-...-2".
// Errors are [*ARNError] values naming the malformed part.
func ParseClusterARN(s string) (ClusterARN, error) {
	bad := func(field, reason string) (ClusterARN, error) {
		return ClusterARN{}, &ARNError{ARN: s, Field: field, Reason: reason}
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 {
		return bad("ARN", "must have 6 colon-separated parts (arn:partition:kafka:region:account:cluster/name/uuid)")
	}
	if parts[0] != "arn" {
		return bad("prefix", `must be "arn"`)
	}
	if !validPartition(parts[1]) {
		return bad("partition", fmt.Sprintf("%q is not a partition such as \"aws\"", parts[1]))
	}
	if parts[2] != "kafka" {
		return bad("service", fmt.Sprintf("is %q, want \"kafka\"", parts[2]))
	}
	if !validRegion(parts[3]) {
		return bad("region", fmt.Sprintf("%q is not a region such as \"us-east-1\"", parts[3]))
	}
	if !validAccount(parts[4]) {
		return bad("account", fmt.Sprintf("%q is not a 12-digit account ID", parts[4]))
	}
	rtype, rest, ok := strings.Cut(parts[5], "/")
	if !ok || rtype != "cluster" {
		return bad("resource", fmt.Sprintf("%q does not start with \"cluster/\"", parts[5]))
	}
	name, uuid, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("resource", fmt.Sprintf("%q is not cluster/<name>/<uuid>", parts[5]))
	}
	if name == "" || strings.ContainsAny(name, "*?") {
		return bad("cluster name", fmt.Sprintf("%q is empty or has a wildcard", name))
	}
	if uuid == "" || strings.ContainsAny(uuid, "/*?") {
		return bad("cluster uuid", fmt.Sprintf("%q is empty or has a '/' or wildcard", uuid))
	}
	return ClusterARN{Partition: parts[1], Region: parts[3], Account: parts[4], Name: name, UUID: uuid}, nil
}

func validPartition(p string) bool {
	if p == "" {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return strings.HasPrefix(p, "aws")
}

func validRegion(r string) bool {
	if r == "" || r[0] == '-' || r[len(r)-1] == '-' {
		return false
	}
	for _, c := range r {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for _, c := range a {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (c ClusterARN) partition() string {
	if c.Partition == "" {
		return "aws"
	}
	return c.Partition
}

func (c ClusterARN) prefix() string {
	return "arn:" + c.partition() + ":kafka:" + c.Region + ":" + c.Account + ":"
}

// String returns the cluster's ARN.
func (c ClusterARN) String() string {
	return c.prefix() + "cluster/" + c.Name + "/" + c.UUID
}

// Resource returns the ARN of the resource of type t named name in the
// cluster; for [ResourceCluster] it returns the cluster ARN and ignores name.
func (c ClusterARN) Resource(t ResourceType, name string) string {
	if t == ResourceCluster {
		return c.String()
	}
	return c.prefix() + string(t) + "/" + c.Name + "/" + c.UUID + "/" + name
}

// Topic returns the ARN of topic name:
// arn:aws:kafka:<region>:<account>:topic/<cluster>/<uuid>/<name>.
func (c ClusterARN) Topic(name string) string { return c.Resource(ResourceTopic, name) }

// Group returns the ARN of consumer group name:
// arn:aws:kafka:<region>:<account>:group/<cluster>/<uuid>/<name>.
func (c ClusterARN) Group(name string) string { return c.Resource(ResourceGroup, name) }

// TransactionalID returns the ARN of transactional ID id:
// arn:aws:kafka:<region>:<account>:transactional-id/<cluster>/<uuid>/<id>.
func (c ClusterARN) TransactionalID(id string) string {
	return c.Resource(ResourceTransactionalID, id)
}
