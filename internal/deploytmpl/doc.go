// Package deploytmpl renders the AWS SAM (or plain CloudFormation)
// template that deploys msklink's Lambda function into the VPC of an MSK
// cluster: the function (provided.al2023, arm64, built from
// cmd/msklink-lambda by deploy/Makefile), its security group and the
// matching ingress rule on the cluster's group for exactly the auth mode's
// port, the execution role with AWSLambdaVPCAccessExecutionRole and the
// kafka-cluster policy of iampolicy.Generate for the workload, the MSK_*
// environment, a log group with retention, and the optional SQS, function
// URL and EventBridge triggers of package lambdafn. With [Params.ESM] it
// renders the consumer side instead: examples/kafka-consumer (package
// lambdafn/kafkaesm) behind an MSK event source mapping, its role the
// policy of iampolicy.GenerateESM, and the cluster security group's
// self-referencing rule the mapping needs.
//
// The templates are meant for production: the cluster, topics, group and
// subnets are parameters (their defaults the values generated for), the
// policy's resources expressions of them (policyyaml.go), no fixed
// function or log-group name; log retention, alarms (errors, throttles,
// the trigger's OffsetLag, the publisher's RecordsUnconfirmed and
// RecordsFailed) on an SNS topic, an SQS on-failure destination for
// asynchronous invocations, the trigger's retry settings with Lambda's
// defaults, reserved concurrency and tracing as options, and SCRAM
// credentials read from the AmazonMSK_ secret at Init, never put in the
// environment. `msklink deploy check` (package deploycheck) passes every
// rendering; docs/DEPLOYMENT.md lists the parameters.
//
// The template is text (template.yaml.tmpl, delimiters [[ ]]) so that it
// stays readable YAML with comments; Render fills it from [Params] after
// validating them (one-line errors naming the value and the fix). The IAM
// policy is filled from iampolicy, never written by hand, so the template
// and `msklink policy generate` (what the doctor's advice points to) cannot
// drift. `msklink deploy template` is the command line; deploy/*.yaml are
// its output for the example cluster, kept equal to Render by a test, and
// validated with AWS's CloudFormation validator (deploy/validate).
//
// Render is a pure function and safe for concurrent use.
package deploytmpl
