// Package iampolicy parses, evaluates and generates AWS IAM identity
// policies for the Amazon MSK data-plane actions (kafka-cluster:*).
//
// It covers the subset of the IAM policy language that can be evaluated
// without request context: Version, Id, Statement (an object or an array),
// Sid, Effect, Action/NotAction and Resource/NotResource, with the * and ?
// wildcards. Anything else (Condition, Principal, NotPrincipal, policy
// variables, unknown elements) is rejected by [Parse] with a [*ParseError]
// that names the statement and the element, so a policy is never silently
// evaluated differently from the way IAM would evaluate it.
//
// Evaluation follows IAM's rules for identity policies: an explicit Deny
// in any statement of any policy wins, then an Allow, otherwise the request
// is implicitly denied. A [Decision] records which statement decided and
// why, for audit logs. Actions match case-insensitively, resources
// case-sensitively.
//
// The package also knows the kafka-cluster action catalog ([Actions]),
// with the resource type each action applies to and the actions it
// requires according to the MSK developer guide; builds MSK resource ARNs
// from a [ClusterARN]; generates a least-privilege policy for a [Workload]
// ([Generate]); and reports which required permissions a set of policies
// lacks ([Check]). [GenerateESM] adds, for the execution role of a Lambda
// event source mapping ([ESMWorkload]), the statements outside
// kafka-cluster:* that the mapping needs (kafka: control plane, ec2
// network interfaces, logs); [CheckESM] evaluates all of it, grouped by
// [ESMPart], and Check its kafka-cluster part.
//
// A [*Policy] is not modified by evaluation or marshaling: once parsed (or
// built) it is safe for concurrent use by multiple goroutines, as long as
// nobody modifies its fields concurrently.
package iampolicy
