package deploycheck

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
)

// checkPublisher checks a function that connects to MSK itself (package
// kafkaconn's MSK_* variables): the port of its auth, its network, and
// with IAM auth its role's kafka-cluster actions on the cluster.
func (c *checker) checkPublisher(f *function, env map[string]string) {
	auth, port, public, ok := c.publisherPort(f, env)
	if !ok {
		return
	}
	c.checkPublisherNetwork(f, auth, port, public)
	r := c.role(f)
	var needs []need
	if _, inVPC, _ := c.lookup(f.props, "VpcConfig"); inVPC {
		needs = append(needs, c.eniNeeds("the function is in the VPC", false)...)
	}
	needs = append(needs, c.logNeeds(f, SeverityWarning)...)
	if auth == kafkaconn.AuthIAM {
		topic := env["MSK_TOPIC"]
		switch {
		case c.cluster == nil:
			c.add(SeverityWarning, CheckIAM, f.id, "Properties.Environment.Variables",
				"the role's kafka-cluster actions were not checked: the template names no single MSK cluster ARN (a parameter's value or a mapping's EventSourceArn)",
				"pass the cluster: msklink deploy check --cluster-arn ARN (or --param NAME=ARN)")
		case topic == "":
			c.add(SeverityWarning, CheckIAM, f.id, "Properties.Environment.Variables.MSK_TOPIC",
				"the role's kafka-cluster actions on topics were not checked: MSK_TOPIC is not set or not resolved", "set MSK_TOPIC to the default topic")
			fallthrough
		default:
			var topics []string
			if topic != "" {
				topics = []string{topic}
			}
			// msklink's publisher reads the topic's max.message.bytes; a
			// function behind the msklink extension (MSK_PROXY_LISTEN:
			// any language's client through 127.0.0.1) does not.
			behindExtension := env["MSK_PROXY_LISTEN"] != ""
			w := iampolicy.Workload{Produce: topics, Idempotent: env["MSK_IDEMPOTENT"] != "false", DescribeTopicConfig: !behindExtension}
			needs = append(needs, kafkaNeeds(*c.cluster, w, func(a iampolicy.Action) Severity {
				if a == iampolicy.DescribeTopicDynamicConfiguration {
					// lambdafn checks record sizes with it, and goes on without.
					return SeverityWarning
				}
				return SeverityError
			})...)
		}
	}
	if auth == kafkaconn.AuthSCRAM {
		needs = append(needs, c.scramNeeds(f, env)...)
	}
	c.checkNeeds(f, r, "function", needs)
}

// scramNeeds checks where a SCRAM function's credentials come from: the
// secret of MSK_SCRAM_SECRET_ARN, read at Init (lambdafn), which the role
// must be allowed to read and the function's security groups to reach on
// TCP 443; or MSK_SCRAM_USERNAME and MSK_SCRAM_PASSWORD (reported by the
// secret-env check).
func (c *checker) scramNeeds(f *function, env map[string]string) []need {
	raw, _, _ := c.lookupRaw(f.props, "Environment.Variables")
	vars, _ := raw.(map[string]any)
	sv, has := vars["MSK_SCRAM_SECRET_ARN"]
	secret := ""
	if has {
		v, err := c.r.eval(sv)
		switch v := v.(type) {
		case string:
			secret = v
		case symbol:
			secret = v.String()
		default:
			_ = err // reported by env
		}
	}
	if secret == "" {
		if env["MSK_SCRAM_PASSWORD"] == "" && !has {
			c.add(SeverityError, CheckSecretEnv, f.id, "Properties.Environment.Variables",
				"MSK_AUTH is scram but the function has no SCRAM credentials (MSK_SCRAM_SECRET_ARN): it fails at Init",
				"set MSK_SCRAM_SECRET_ARN to the cluster's AmazonMSK_ secret and allow secretsmanager:GetSecretValue on it")
		}
		return nil
	}
	if _, inVPC, _ := c.lookup(f.props, "VpcConfig"); inVPC {
		c.checkEgress(f, 443, "Secrets Manager (MSK_SCRAM_SECRET_ARN is read at Init)")
	}
	return []need{{"secretsmanager:GetSecretValue", secret, "read its SCRAM credentials at Init (MSK_SCRAM_SECRET_ARN)", SeverityError}}
}

// The provisioned-only features of a Kafka event source mapping: Lambda
// honours them only with ProvisionedPollerConfig (the Lambda developer
// guide, kafka-retry-configurations and kafka-on-failure; schema registry:
// services-consume-kafka-events with a schema registry).
type provisionedFeature struct{ path, what string }

var provisionedOnly = []provisionedFeature{
	{"FunctionResponseTypes", "partial batch responses (ReportBatchItemFailures)"},
	{"BisectBatchOnFunctionError", "splitting a failed batch"},
	{"MaximumRetryAttempts", "a retry limit"},
	{"MaximumRecordAgeInSeconds", "a maximum record age"},
	{"DestinationConfig", "an on-failure destination"},
	{"AmazonManagedKafkaEventSourceConfig.SchemaRegistryConfig", "a schema registry"},
}

// checkMapping checks an MSK event source mapping: its values and ranges,
// its mode, its on-failure topic, the cluster's rules for its pollers, and
// its function's role.
func (c *checker) checkMapping(f *function, m mapping) {
	at := func(p string) string { return m.path + "." + p }
	// get returns a property of the mapping; an unresolvable one is
	// reported and found with a nil value (neither absent nor checked).
	get := func(p, what string) (any, bool) {
		v, found, err := c.lookup(m.props, p)
		if err != nil {
			c.notChecked(m.id, at(p), what, err)
			return nil, true
		}
		return v, found
	}
	num := func(p string, lo, hi int, what, fix string, extra ...int) {
		v, found := get(p, what)
		if !found || v == nil {
			return
		}
		s, _ := scalar(v)
		n, err := strconv.Atoi(s)
		ok := err == nil && n >= lo && n <= hi
		for _, e := range extra {
			ok = ok || (err == nil && n == e)
		}
		if !ok {
			c.add(SeverityError, CheckESM, m.id, at(p), fmt.Sprintf("%s is %s; %s", p, describe(v), what), fix)
		}
	}
	// A SAM MSK event names some properties differently (SAM's
	// EventSource MSK: Stream, ConsumerGroupId, SchemaRegistryConfig).
	clusterKey, topicsKey, groupKey := "EventSourceArn", "Topics", "AmazonManagedKafkaEventSourceConfig.ConsumerGroupId"
	modeOnly := provisionedOnly
	if m.sam {
		clusterKey, groupKey = "Stream", "ConsumerGroupId"
		modeOnly = append(provisionedOnly[:len(provisionedOnly)-1:len(provisionedOnly)-1], provisionedFeature{"SchemaRegistryConfig", "a schema registry"})
	}
	var topic string
	if v, found := get(topicsKey, "the topic the mapping consumes"); found && v != nil {
		l, _ := v.([]any)
		if len(l) != 1 {
			c.add(SeverityError, CheckESM, m.id, at(topicsKey), fmt.Sprintf("an MSK mapping consumes exactly one topic, not %d", len(l)), "give one topic (another mapping for another topic)")
		} else {
			topic, _ = scalar(l[0])
		}
	} else if !found {
		c.add(SeverityError, CheckESM, m.id, at(topicsKey), "no Topics: an MSK mapping needs the topic it consumes", "set Topics: [TOPIC]")
	}
	sp, found := get("StartingPosition", "the starting position")
	switch s, _ := scalar(sp); {
	case !found:
		c.add(SeverityError, CheckESM, m.id, at("StartingPosition"), "no StartingPosition: Lambda requires one for MSK", "set StartingPosition: TRIM_HORIZON (or LATEST)")
	case sp == nil:
	case s == "TRIM_HORIZON", s == "LATEST":
	case s == "AT_TIMESTAMP":
		if _, ts := get("StartingPositionTimestamp", "the starting timestamp"); !ts {
			c.add(SeverityError, CheckESM, m.id, at("StartingPosition"), "AT_TIMESTAMP without StartingPositionTimestamp", "set StartingPositionTimestamp (seconds since the epoch)")
		}
	default:
		c.add(SeverityError, CheckESM, m.id, at("StartingPosition"), fmt.Sprintf("StartingPosition %q is not one MSK takes", s), "use TRIM_HORIZON, LATEST or AT_TIMESTAMP")
	}
	num("BatchSize", 1, 10000, "an MSK mapping takes 1 to 10000 records per batch", "set BatchSize between 1 and 10000 (default 100)")
	num("MaximumBatchingWindowInSeconds", 0, 300, "the batching window is 0 to 300 seconds", "set MaximumBatchingWindowInSeconds between 0 and 300")
	num("MaximumRetryAttempts", -1, 10000, "retries are -1 (until the record expires) to 10000", "set MaximumRetryAttempts between -1 and 10000")
	num("MaximumRecordAgeInSeconds", 60, 604800, "the maximum record age is -1 (none) or 60 to 604800 seconds", "set MaximumRecordAgeInSeconds to -1 or between 60 and 604800", -1)
	num("ProvisionedPollerConfig.MinimumPollers", 1, 200, "provisioned mode takes 1 to 200 minimum pollers", "set MinimumPollers between 1 and 200")
	num("ProvisionedPollerConfig.MaximumPollers", 1, 2000, "provisioned mode takes 1 to 2000 maximum pollers", "set MaximumPollers between 1 and 2000")
	if lo, f1 := get("ProvisionedPollerConfig.MinimumPollers", "the pollers"); f1 {
		if hi, f2 := get("ProvisionedPollerConfig.MaximumPollers", "the pollers"); f2 {
			a, _ := scalar(lo)
			b, _ := scalar(hi)
			x, e1 := strconv.Atoi(a)
			y, e2 := strconv.Atoi(b)
			if e1 == nil && e2 == nil && x > y {
				c.add(SeverityError, CheckESM, m.id, at("ProvisionedPollerConfig"), fmt.Sprintf("MinimumPollers %d is above MaximumPollers %d", x, y), "make MaximumPollers at least MinimumPollers")
			}
		}
	}

	// Mode: the provisioned-only features.
	_, provisioned, err := c.lookup(m.props, "ProvisionedPollerConfig")
	if err != nil {
		c.notChecked(m.id, at("ProvisionedPollerConfig"), "whether the mapping is in provisioned mode (which its error handling needs)", err)
	} else if !provisioned {
		for _, p := range modeOnly {
			v, found, err := c.lookup(m.props, p.path)
			if err != nil || !found || v == nil || v == false || v == -1 {
				continue
			}
			if l, ok := v.([]any); ok && len(l) == 0 {
				continue
			}
			c.add(SeverityError, CheckESMMode, m.id, at(p.path),
				fmt.Sprintf("%s works for a Kafka mapping in provisioned mode only, and this mapping is on demand (no ProvisionedPollerConfig): Lambda rejects or ignores it", p.what),
				"add ProvisionedPollerConfig (MinimumPollers, MaximumPollers), or remove "+p.path)
		}
	}

	// The on-failure destination.
	onFailure := ""
	if v, found := get("DestinationConfig.OnFailure.Destination", "the on-failure destination"); found {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "kafka://") {
			onFailure = strings.TrimPrefix(s, "kafka://")
			if onFailure == topic && topic != "" {
				c.add(SeverityError, CheckOnFailure, m.id, at("DestinationConfig.OnFailure.Destination"),
					fmt.Sprintf("the on-failure topic %s is the topic the mapping consumes: Lambda rejects it (failed records would loop)", topic),
					"send failed records to another topic of the cluster, e.g. "+topic+"-dlt")
			}
		}
	}

	// Auth and port.
	auth := kafkaconn.AuthIAM
	var secret string
	if v, found := get("SourceAccessConfigurations", "the mapping's authentication"); found {
		l, _ := v.([]any)
		for _, x := range l {
			sc, _ := x.(map[string]any)
			switch sc["Type"] {
			case "SASL_SCRAM_512_AUTH":
				auth = kafkaconn.AuthSCRAM
				secret, _ = sc["URI"].(string)
			case "CLIENT_CERTIFICATE_TLS_AUTH":
				auth = kafkaconn.AuthMTLS
				secret, _ = sc["URI"].(string)
			}
		}
	}
	c.checkMappingNetwork(m, auth, authPorts[auth])

	// The role.
	arnv, found := get(clusterKey, "the cluster the mapping reads from (and the role's permissions on it)")
	arn, _ := arnv.(string)
	switch {
	case !found:
		c.add(SeverityError, CheckESM, m.id, at(clusterKey), "no cluster ARN", "set "+clusterKey+" to the MSK cluster's ARN")
		return
	case arnv == nil:
		return // reported as unresolved
	case arn == "" && c.cfg.cluster != "":
		arn = c.cfg.cluster
	case arn == "":
		c.add(SeverityWarning, CheckUnresolved, m.id, at(clusterKey),
			fmt.Sprintf("the role's permissions on the cluster were not checked: the cluster is %s", describe(arnv)),
			"pass its ARN: msklink deploy check --cluster-arn ARN")
		return
	}
	cluster, err := iampolicy.ParseClusterARN(arn)
	if err != nil {
		c.add(SeverityError, CheckESM, m.id, at(clusterKey), fmt.Sprintf("%s is not an MSK cluster ARN: %v", arn, err), "use the ARN from aws kafka list-clusters-v2")
		return
	}
	r := c.role(f)
	var needs []need
	needs = append(needs,
		need{"kafka:DescribeClusterV2", cluster.String(), "look up the cluster's subnets and security groups (the trigger)", SeverityError},
		need{"kafka:GetBootstrapBrokers", cluster.String(), "find the brokers (the trigger)", SeverityError})
	needs = append(needs, c.eniNeeds("the trigger polls from the cluster's subnets", true)...)
	needs = append(needs, c.logNeeds(f, SeverityError)...)
	if secret != "" {
		needs = append(needs, need{"secretsmanager:GetSecretValue", secret, "read the " + string(auth) + " secret (the trigger)", SeverityError})
	}
	if auth == kafkaconn.AuthIAM && topic != "" {
		group := "MAPPING-UUID" // without ConsumerGroupId the group is the mapping's UUID
		if v, found := get(groupKey, "the consumer group (and the role's group actions)"); found {
			s, ok := v.(string)
			if !ok {
				// Unresolved (reported): check what does not depend on it.
				c.checkNeeds(f, r, "MSK trigger "+m.id, needs)
				return
			}
			group = s
		}
		w := iampolicy.ESMWorkload{Topics: []string{topic}, Group: group, OnFailureTopic: onFailure}
		if onFailure == topic {
			w.OnFailureTopic = ""
		}
		needs = append(needs, kafkaNeeds(cluster, w.Workload(), func(iampolicy.Action) Severity { return SeverityError })...)
	}
	c.checkNeeds(f, r, "MSK trigger "+m.id, needs)
}
