package doctor

// The messages Lambda's event source mapping (ESM) for Kafka shows in
// StateTransitionReason and LastProcessingResult (GetEventSourceMapping),
// with where each is documented. LastProcessingResult texts start with
// "PROBLEM: ".
//
//   - "Cluster failed to authorize Lambda", "SASL authentication failed",
//     "Server failed to authenticate Lambda", "Lambda failed to authenticate
//     server", "Provided certificate or private key is invalid": the Lambda
//     developer guide, "Troubleshooting Kafka event source mapping errors"
//     (with-kafka-troubleshoot; formerly the "Authentication and
//     authorization errors" section of with-msk), shown under
//     LastProcessingResult.
//   - ESM_CONFIG_NOT_VALID, EVENT_SOURCE_AUTHN_ERROR,
//     EVENT_SOURCE_AUTHZ_ERROR, FUNCTION_CONFIG_NOT_VALID: the same guide's
//     "Event source mapping errors" (StateTransitionReason of a stopped
//     consumer).
//   - "PROBLEM: Connection error. Please check your event source connection
//     configuration.": what the mapping shows when it cannot reach the
//     brokers (reported by users, e.g. pulumi/pulumi-aws#1290);
//     "PROBLEM: Connection error. Your VPC must be able to connect to Lambda
//     and STS, as well as Secrets Manager if authentication is required.":
//     when the cluster's subnets have no route to those endpoints, which the
//     guide's network page (with-msk-cluster-network) requires: a NAT gateway
//     or PrivateLink endpoints.

// esmConfirm is the doctor command that confirms an ESM cause: run as the
// mapping runs, with the function's execution role and from the cluster's
// VPC.
func esmConfirm(cause string) string {
	base := "msklink doctor --esm --bootstrap $BROKERS --topic $TOPIC --group $ESM_UUID"
	switch cause {
	case CauseAuthzGroup, CauseAuthzRead, CauseAuthzTopic, CauseAuthzClusterConfig:
		return base + " --role-arn $EXECUTION_ROLE (authz checks as the execution role; msklink policy check --esm --policy ROLE_POLICY.json ... tells it from the policy alone)"
	case CauseAuthDenied, CauseTooManyConnects, CauseTokenRegion, CauseTokenExpired:
		return base + " --role-arn $EXECUTION_ROLE (sasl checks show the broker's message)"
	case CauseTCPTimeout, CauseTCPRefused, CauseDNS, CauseAdvertisedUnreachable:
		return base + " from a host in the cluster's subnets with its security group (tcp and advertised checks), or invoke a function in that VPC with {\"msklink\":\"doctor\"}"
	case CauseTLSUntrusted:
		return base + " --auth $AUTH --ca-file $ROOT_CA (tls checks show the certificate error)"
	}
	return base + " (config and every layer)"
}

func esmLikely(cause, why string) Likely {
	return Likely{Cause: cause, Why: why, Confirm: esmConfirm(cause)}
}

const esmClient = "Lambda event source mapping (Amazon MSK, self-managed Kafka)"

// esmRules are the event source mapping's texts, before the clients'
// rules (some of their needles are more general).
func esmRules() []rule {
	authz := func() []Likely {
		return []Likely{
			esmLikely(CauseAuthzGroup, "the execution role lacks kafka-cluster:DescribeGroup or AlterGroup on the group, which is named after the mapping's UUID unless ConsumerGroupId is set (Kafka ACLs: Describe and Read on the group)"),
			esmLikely(CauseAuthzRead, "the execution role lacks kafka-cluster:ReadData on the topic (Kafka ACL: Read on the topic)"),
			esmLikely(CauseAuthzTopic, "the execution role lacks kafka-cluster:DescribeTopic on the topic (Kafka ACL: Describe on the topic)"),
			esmLikely(CauseAuthzClusterConfig, "the execution role lacks kafka-cluster:DescribeClusterDynamicConfiguration on the cluster (Kafka ACL: DescribeConfigs on the cluster)"),
		}
	}
	unreachable := []Likely{
		esmLikely(CauseTCPTimeout, "the mapping connects from the cluster's own subnets with the cluster's security groups: they must allow inbound traffic on the broker port (9098 IAM, 9096 SCRAM, 9094 TLS) from themselves"),
		esmLikely(CauseAdvertisedUnreachable, "a broker the cluster advertises is down or its address does not route from those subnets"),
		esmLikely(CauseDNS, "a self-managed cluster's bootstrap or advertised names do not resolve in the mapping's VPC"),
		esmLikely(CauseTCPRefused, "the listener of the port is not enabled (IAM access control off: no 9098)"),
	}
	return []rule{
		{client: esmClient, needles: []string{"Cluster failed to authorize Lambda", "EVENT_SOURCE_AUTHZ_ERROR"},
			meaning: "the mapping authenticated but is not allowed a consumer's actions on the group or topic",
			causes:  authz()},
		{client: esmClient, needles: []string{"PROBLEM: SASL authentication failed", "EVENT_SOURCE_AUTHN_ERROR"},
			meaning: "the brokers rejected the mapping's authentication: with IAM the execution role lacks kafka-cluster:Connect, with SCRAM the secret's user name or password is wrong",
			causes: []Likely{
				esmLikely(CauseAuthDenied, "the execution role's policy does not allow kafka-cluster:Connect on the cluster ARN (IAM), or the Secrets Manager secret's credentials are wrong (SASL/SCRAM, SASL/PLAIN)"),
				esmLikely(CauseTooManyConnects, "intermittently: the cluster refuses connections over MSK's connection quota, and Lambda backs off and retries until it connects"),
			}},
		{client: esmClient, needles: []string{"Your VPC must be able to connect to Lambda and STS"},
			meaning: "the mapping runs in the cluster's subnets and must reach STS (to assume the execution role), Lambda (to invoke the function) and Secrets Manager (for a SCRAM or mTLS secret) from there",
			causes: []Likely{
				esmLikely(CauseTCPTimeout, "the cluster's subnets have no NAT gateway and no interface VPC endpoints (PrivateLink) for sts, lambda (and secretsmanager), or the endpoints' security group does not allow 443 from the cluster's security group"),
				esmLikely(CauseDNS, "the VPC endpoints were created without private DNS, so the service names do not resolve to them"),
			}},
		{client: esmClient, needles: []string{"PROBLEM: Connection error", "Please check your event source connection configuration"},
			meaning: "the mapping could not connect to the brokers",
			causes:  unreachable},
		{client: esmClient, needles: []string{"Server failed to authenticate Lambda"},
			meaning: "the brokers did not accept the mapping's mTLS client certificate",
			causes: []Likely{
				esmLikely(CauseAuthDenied, "no client certificate secret was given, the brokers are not configured for mTLS, or they do not trust the client certificate's CA"),
				esmLikely(CauseConfig, "the mapping's SourceAccessConfigurations name the wrong secret or authentication type"),
			}},
		{client: esmClient, needles: []string{"Lambda failed to authenticate server", "Lambda failed to authenticate the server"},
			meaning: "the mapping did not trust the brokers' TLS certificates",
			causes: []Likely{
				esmLikely(CauseTLSUntrusted, "the brokers use a self-signed certificate or a private CA and no server root CA certificate secret was given, it does not match the CA that signed them, or the certificates do not name the brokers' DNS names"),
			}},
		{client: esmClient, needles: []string{"Provided certificate or private key is invalid"},
			meaning: "the mapping could not use the client certificate or key in its secret",
			causes: []Likely{
				esmLikely(CauseConfig, "the certificate and key must be PEM, and an encrypted private key must use a PBES1 algorithm"),
			}},
		{client: esmClient, needles: []string{"ESM_CONFIG_NOT_VALID"},
			meaning: "the event source mapping's configuration is not valid",
			causes: []Likely{
				esmLikely(CauseConfig, "a setting of the mapping (topic, starting position, batch size or window, authentication, consumer group) is wrong: compare it with `aws lambda get-event-source-mapping`"),
			}},
		{client: esmClient, needles: []string{"FUNCTION_CONFIG_NOT_VALID"},
			meaning: "the function's configuration does not suit a Kafka event source mapping",
			causes: []Likely{
				esmLikely(CauseConfig, "a Kafka mapping supports functions with a timeout of at most 14 minutes; the function's execution role or state may be invalid"),
			}},
	}
}
