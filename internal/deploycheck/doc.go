// Package deploycheck checks a SAM or CloudFormation template for what a
// Lambda function needs from Amazon MSK and what CloudFormation linters
// cannot know: the security-group rules on the port of the auth in use,
// the execution role's statements evaluated (with package iampolicy)
// against what the function or its MSK trigger does, the runtime, handler
// and architecture of a Go bootstrap, the event source mapping's ranges and
// mode rules, and SCRAM credentials kept out of the environment.
//
// [Parse] reads YAML (with CloudFormation's short-form intrinsics such as
// !Ref and !Sub) or JSON. [Check] resolves Ref, Fn::Sub, Fn::GetAtt,
// Fn::FindInMap, Fn::If, Fn::Join, Fn::Select and Fn::Split against the
// parameters' defaults (or the values given with [WithParameters]); what it
// cannot resolve is reported as a [Finding] that names the resource and
// what was not checked, never passed silently. `msklink deploy check` is
// the command line; `make -C deploy validate` runs it beside AWS's
// validator and cfn-lint.
//
// Check is a pure function and safe for concurrent use.
package deploycheck
