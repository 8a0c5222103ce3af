package doctor

// CauseDoc documents one cause code: what it means and the usual fix.
type CauseDoc struct {
	Code    string // the cause code, e.g. "tcp_timeout"
	Meaning string // what the doctor saw, in one sentence
	Fix     string // what to change
}

// Causes returns every cause code, in the order of the layers that report
// them (ok first).
func Causes() []string {
	return []string{
		CauseOK, CauseConfig, CauseCredentials, CauseDNS, CauseTCPTimeout, CauseTCPRefused,
		CauseTLSRequired, CauseTLSNotOffered, CauseTLSUntrusted, CauseAuthMechanism,
		CauseTokenRegion, CauseTokenExpired, CauseClockSkew, CauseAuthDenied, CauseTooManyConnects,
		CauseAdvertisedUnreachable, CauseAuthzTopic, CauseAuthzIdempotent, CauseAuthzGroup,
		CauseAuthzRead, CauseAuthzClusterConfig,
		CauseBrokerTimeout, CauseConnectionReset,
	}
}

// CauseInfo returns the documentation of a cause code, and false for an
// unknown code.
func CauseInfo(code string) (CauseDoc, bool) {
	d := CauseDoc{Code: code}
	switch code {
	case CauseOK:
		d.Meaning = "every check passed: the client can connect, authenticate and do its work"
		d.Fix = "nothing to fix"
	case CauseConfig:
		d.Meaning = "the connection settings cannot work (auth mode vs port, region vs broker host, a missing setting)"
		d.Fix = "change the setting named in the config check; the ports are 9098 IAM, 9096 SCRAM, 9094 TLS, 9092 plaintext (9198/9196/9194 with public access)"
	case CauseCredentials:
		d.Meaning = "no usable AWS credentials were found for the IAM token"
		d.Fix = "give the Lambda function (or ECS task, EC2 instance) an execution role; locally set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; with --role-arn the base credentials must be allowed sts:AssumeRole"
	case CauseDNS:
		d.Meaning = "a broker host name does not resolve"
		d.Fix = "copy the bootstrap string from `aws kafka get-bootstrap-brokers --cluster-arn ARN` (BootstrapBrokerStringSaslIam for IAM); MSK's private names resolve only inside the cluster's VPC: put the Lambda function in that VPC (or a peered VPC with DNS resolution enabled)"
	case CauseTCPTimeout:
		d.Meaning = "the TCP connection got no answer within the timeout: packets are dropped by a security group, NACL or missing route"
		d.Fix = "allow inbound TCP 9098 (IAM; 9096 SCRAM, 9094 TLS) on the cluster's security group from the function's security group; attach the function to subnets that route to the brokers (the cluster's VPC); check NACLs and route tables; for public access use port 9198 and the public bootstrap string"
	case CauseTCPRefused:
		d.Meaning = "the broker host answered but nothing listens on that port"
		d.Fix = "use the port of an enabled listener: enable IAM access control on the cluster for 9098, or use the port the cluster's bootstrap string names; a broker that is down or restarting refuses too"
	case CauseTLSRequired:
		d.Meaning = "the client speaks plaintext to a port that expects TLS"
		d.Fix = "use TLS (--auth iam, scram or tls; security.protocol SASL_SSL or SSL), or the plaintext port 9092 if the cluster allows plaintext"
	case CauseTLSNotOffered:
		d.Meaning = "the client speaks TLS to a plaintext port"
		d.Fix = "use the TLS port of the listener you want (9098 IAM, 9096 SCRAM, 9094 TLS), or --auth plaintext for port 9092"
	case CauseTLSUntrusted:
		d.Meaning = "the broker's TLS certificate is not trusted or does not match the host name"
		d.Fix = "MSK's certificates are Amazon-issued and trusted by the system CA pool: do not override the truststore with a private one; connect by the broker's DNS name, not its IP; for a private CA or the local emulator pass --ca-file (MSK_TLS_CA_FILE)"
	case CauseAuthMechanism:
		d.Meaning = "the listener does not offer the SASL mechanism the client uses (IAM on the SCRAM port, SASL on a TLS-only port)"
		d.Fix = "IAM needs port 9098 (9198 public) and IAM access control enabled on the cluster; SCRAM uses 9096; match --auth (sasl.mechanism) to the port"
	case CauseTokenRegion:
		d.Meaning = "the IAM token is signed for another region than the cluster's"
		d.Fix = "sign for the cluster's region (the region in its ARN): --region / MSK_REGION / AWS_REGION; msklink reads it from MSK broker host names when they are used"
	case CauseTokenExpired:
		d.Meaning = "the IAM credentials (or the token) have expired"
		d.Fix = "refresh the credentials: do not copy temporary session credentials into environment variables; let the SDK's credential chain (the function's role) refresh them; sign a token per connection, bounded by the credentials' expiry"
	case CauseClockSkew:
		d.Meaning = "the client's clock differs from AWS's by more than SigV4 allows (5 minutes)"
		d.Fix = "synchronize the clock (NTP, chrony, Amazon Time Sync at 169.254.169.123); a container or VM resumed from a snapshot needs its clock reset"
	case CauseAuthDenied:
		d.Meaning = "the broker rejected the authentication (MSK says only \"Access denied\")"
		d.Fix = "the principal's IAM policy must allow kafka-cluster:Connect on the cluster ARN (msklink policy generate); check the credentials belong to the role you expect, the token's region, and that IAM access control is enabled on the cluster"
	case CauseTooManyConnects:
		d.Meaning = "the broker refused new connections over MSK's rate limit (\"Too many connects\")"
		d.Fix = "reuse one client per process (create it in the Lambda init phase, not per invocation); add reconnect backoff (reconnect.backoff.ms); cap the function's concurrency; MSK allows about 100 new IAM connections per second per broker (4 on t3.small)"
	case CauseAdvertisedUnreachable:
		d.Meaning = "bootstrap works, but a broker's advertised address (from Metadata) does not resolve or answer"
		d.Fix = "the client must reach every broker, not only the bootstrap one: attach the function to subnets in every AZ of the cluster, allow 9098 to all brokers in the security group; through a tunnel or proxy, the advertised names must resolve to it; a broker that is down is reported here too"
	case CauseAuthzTopic:
		d.Meaning = "the principal may connect but not use the topic (DescribeTopic, WriteData or ReadData denied)"
		d.Fix = "allow kafka-cluster:DescribeTopic and WriteData (produce) / ReadData (consume) on arn:aws:kafka:REGION:ACCOUNT:topic/CLUSTER/UUID/TOPIC: run `msklink policy generate --cluster-arn ARN --produce TOPIC`"
	case CauseAuthzIdempotent:
		d.Meaning = "the idempotent producer's InitProducerId was denied (kafka-cluster:WriteDataIdempotently)"
		d.Fix = "allow kafka-cluster:WriteDataIdempotently on the cluster ARN (msklink policy generate --idempotent), or turn idempotence off (MSK_IDEMPOTENT=false; enable.idempotence=false)"
	case CauseAuthzGroup:
		d.Meaning = "the consumer group actions were denied (DescribeGroup, AlterGroup)"
		d.Fix = "allow kafka-cluster:DescribeGroup and AlterGroup on arn:aws:kafka:REGION:ACCOUNT:group/CLUSTER/UUID/GROUP (msklink policy generate --consume TOPIC --group GROUP)"
	case CauseAuthzRead:
		d.Meaning = "the principal may describe the topic but not read it (kafka-cluster:ReadData denied): a consumer, such as Lambda's event source mapping, fetches nothing"
		d.Fix = "allow kafka-cluster:ReadData and DescribeTopic on arn:aws:kafka:REGION:ACCOUNT:topic/CLUSTER/UUID/TOPIC (the \"ReadTopics\" statement of msklink policy generate --esm --cluster-arn ARN --topic TOPIC --group GROUP)"
	case CauseAuthzClusterConfig:
		d.Meaning = "reading the brokers' dynamic configuration was denied (kafka-cluster:DescribeClusterDynamicConfiguration), which Lambda's event source mapping needs"
		d.Fix = "allow kafka-cluster:DescribeClusterDynamicConfiguration on the cluster ARN (the \"Cluster\" statement of msklink policy generate --esm --cluster-arn ARN --topic TOPIC --group GROUP)"
	case CauseBrokerTimeout:
		d.Meaning = "the connection was accepted but the broker did not answer a request within the timeout"
		d.Fix = "check the cluster's health (CPU, request queue, throttling) and anything in between that holds packets (a proxy, a firewall dropping mid-stream); raise --timeout only after that"
	case CauseConnectionReset:
		d.Meaning = "the broker closed the connection without an answer"
		d.Fix = "old clients (kafka-python 2.0) show every MSK rejection this way: run `msklink doctor` with the same settings to see the broker's real reason; otherwise check for broker restarts, idle timeouts and connection limits"
	default:
		return CauseDoc{}, false
	}
	return d, true
}
