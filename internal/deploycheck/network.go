package deploycheck

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/msklink/msklink/kafkaconn"
)

// authPorts are MSK's private listener ports per auth mode; the public
// ones are 100 higher (MSK developer guide, "Port information").
var authPorts = map[kafkaconn.Auth]int{
	kafkaconn.AuthIAM:       9098,
	kafkaconn.AuthSCRAM:     9096,
	kafkaconn.AuthTLS:       9094,
	kafkaconn.AuthMTLS:      9094,
	kafkaconn.AuthPlaintext: 9092,
}

// publisherPort returns the port a function using kafkaconn.FromEnv's
// variables reaches the brokers on, and whether that is a public-access
// port; ok is false when it cannot be told (reported).
func (c *checker) publisherPort(f *function, env map[string]string) (auth kafkaconn.Auth, port int, public, ok bool) {
	auth = kafkaconn.Auth(strings.ToLower(env["MSK_AUTH"]))
	if auth == "" {
		auth = kafkaconn.AuthIAM // kafkaconn's default
	}
	port, known := authPorts[auth]
	if !known {
		c.add(SeverityError, CheckAuthPort, f.id, "Properties.Environment.Variables.MSK_AUTH",
			fmt.Sprintf("MSK_AUTH %q is not an auth mode: the function fails at Init", auth), "use iam, scram, tls, mtls or plaintext")
		return auth, 0, false, false
	}
	boot, have := env["MSK_BOOTSTRAP_SERVERS"]
	if !have {
		return auth, port, false, true // reported as unresolved by env
	}
	ports := map[int]bool{}
	for _, b := range strings.Split(boot, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		_, ps, err := net.SplitHostPort(b)
		if err != nil {
			c.add(SeverityError, CheckAuthPort, f.id, "Properties.Environment.Variables.MSK_BOOTSTRAP_SERVERS",
				fmt.Sprintf("broker %q is not host:port", b), "give the cluster's bootstrap string (aws kafka get-bootstrap-brokers)")
			continue
		}
		p, _ := strconv.Atoi(ps)
		modes, msk := kafkaconn.PortAuth(p)
		if msk && !slices.Contains(modes, auth) {
			c.add(SeverityError, CheckAuthPort, f.id, "Properties.Environment.Variables.MSK_BOOTSTRAP_SERVERS",
				fmt.Sprintf("broker %s is on MSK's %s port %d, but MSK_AUTH is %s (port %d): the handshake fails", b, modes[0], p, auth, port),
				fmt.Sprintf("use the cluster's bootstrap string for %s (port %d), or set MSK_AUTH to %s", auth, port, modes[0]))
			continue
		}
		ports[p] = true
	}
	switch {
	case ports[port+100] && len(ports) == 1:
		return auth, port + 100, true, true
	case len(ports) == 1:
		for p := range ports {
			return auth, p, false, true
		}
	}
	return auth, port, false, true
}

// sgRule is one security-group rule: inline in an AWS::EC2::SecurityGroup
// or a standalone AWS::EC2::SecurityGroupIngress/Egress.
type sgRule struct {
	resource, path string
	group          any // the group the rule belongs to (a symbol, or an ID)
	peer           any // SourceSecurityGroupId / DestinationSecurityGroupId, if any
	protocol       string
	from, to       int
}

// covers reports whether the rule admits TCP port.
func (r sgRule) covers(port int) bool {
	switch strings.ToLower(r.protocol) {
	case "-1", "all":
		return true
	case "tcp", "6":
		return r.from <= port && port <= r.to
	}
	return false
}

func (r sgRule) describe() string {
	switch strings.ToLower(r.protocol) {
	case "-1", "all":
		return "all traffic"
	case "tcp", "6":
		if r.from == r.to {
			return fmt.Sprintf("TCP %d", r.from)
		}
		return fmt.Sprintf("TCP %d-%d", r.from, r.to)
	}
	return "protocol " + r.protocol
}

// sameGroup reports whether a and b name the same security group: the
// same resource (Ref or GetAtt GroupId), parameter or literal ID.
func sameGroup(a, b any) bool {
	norm := func(v any) any {
		if s, ok := v.(symbol); ok && s.kind == "getatt" {
			if id, attr, _ := strings.Cut(s.name, "."); attr == "GroupId" {
				return symbol{"resource", id}
			}
		}
		return v
	}
	return a != nil && norm(a) == norm(b)
}

// rules returns the template's security-group rules of one direction
// ("ingress" or "egress"), and whether the group (a symbol for a resource
// of the template) has inline rules of that direction declared at all.
func (c *checker) rules(dir string) []sgRule {
	inline, standalone, peerKey := "SecurityGroupIngress", "AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId"
	if dir == "egress" {
		inline, standalone, peerKey = "SecurityGroupEgress", "AWS::EC2::SecurityGroupEgress", "DestinationSecurityGroupId"
	}
	var out []sgRule
	for _, id := range sortedKeys(c.t.Resources) {
		res := c.t.Resources[id]
		if !c.r.exists(id) {
			continue
		}
		switch res.Type {
		case "AWS::EC2::SecurityGroup":
			v, found := c.get(id, res.Properties, inline, "the group's "+dir+" rules")
			if !found {
				continue
			}
			l, _ := v.([]any)
			for i, x := range l {
				m, _ := x.(map[string]any)
				if r, ok := c.rule(id, fmt.Sprintf("Properties.%s[%d]", inline, i), symbol{"resource", id}, m, peerKey); ok {
					out = append(out, r)
				}
			}
		case standalone:
			g, _ := c.get(id, res.Properties, "GroupId", "which group the rule belongs to")
			if r, ok := c.rule(id, "Properties", g, res.Properties, peerKey); ok {
				out = append(out, r)
			}
		}
	}
	return out
}

func (c *checker) rule(id, path string, group any, m map[string]any, peerKey string) (sgRule, bool) {
	em := map[string]any{}
	for _, k := range []string{"IpProtocol", "FromPort", "ToPort", peerKey} {
		v, err := c.r.eval(m[k])
		if err != nil {
			c.notChecked(id, path+"."+k, "this security-group rule", err)
			return sgRule{}, false
		}
		em[k] = v
	}
	r := sgRule{resource: id, path: path, group: group, peer: em[peerKey], from: -1, to: -1}
	r.protocol, _ = scalar(em["IpProtocol"])
	if s, ok := scalar(em["FromPort"]); ok {
		r.from, _ = strconv.Atoi(s)
	}
	if s, ok := scalar(em["ToPort"]); ok {
		r.to, _ = strconv.Atoi(s)
	}
	return r, true
}

// checkPublisherNetwork checks that a function connecting to MSK itself
// can reach the brokers on port: it is in the VPC (unless it uses public
// access), its security groups let it out on the port, and the ingress
// rules the template adds for it admit it on the port.
func (c *checker) checkPublisherNetwork(f *function, auth kafkaconn.Auth, port int, public bool) {
	vpc, found := c.get(f.id, f.props, "VpcConfig", "whether the function is in the cluster's VPC")
	if vpc == nil && found {
		return
	}
	if !found {
		if !public {
			c.add(SeverityError, CheckNetwork, f.id, "Properties.VpcConfig",
				fmt.Sprintf("no VpcConfig: a function outside the VPC cannot reach MSK's private %s listener (port %d); the connection times out", auth, port),
				"set VpcConfig with subnets that route to the brokers and a security group with egress to the cluster's on that port")
		}
		return
	}
	sgs, _, err := c.lookup(f.props, "VpcConfig.SecurityGroupIds")
	if err != nil {
		c.notChecked(f.id, "Properties.VpcConfig.SecurityGroupIds", fmt.Sprintf("the function's egress on TCP %d", port), err)
		return
	}
	list, _ := sgs.([]any)
	if len(list) == 0 {
		c.add(SeverityError, CheckNetwork, f.id, "Properties.VpcConfig.SecurityGroupIds", "no security group: Lambda needs one to place the function in the VPC",
			fmt.Sprintf("add a security group with egress TCP %d to the cluster's group", port))
		return
	}
	ingress := c.rules("ingress")
	c.reportEgress(f, list, port, fmt.Sprintf("the port of %s auth: the connection to the brokers times out (the doctor's cause tcp_timeout)", auth),
		fmt.Sprintf("allow egress TCP %d to the cluster's security group (FromPort and ToPort %d)", port, port))
	// The cluster's ingress rules that this template adds for the function.
	var forFn []sgRule
	for _, r := range ingress {
		for _, g := range list {
			if sameGroup(r.peer, g) {
				forFn = append(forFn, r)
			}
		}
	}
	if len(forFn) == 0 {
		return
	}
	for _, r := range forFn {
		if r.covers(port) {
			return
		}
	}
	r := forFn[0]
	c.add(SeverityError, CheckIngress, r.resource, r.path,
		fmt.Sprintf("the rule admits the function's security group on %s, not TCP %d, the port of %s auth: the brokers never see the connection", r.describe(), port, auth),
		fmt.Sprintf("set FromPort and ToPort to %d", port))
}

// egressAllows reports whether the function's security groups (list, the
// evaluated SecurityGroupIds) let TCP port out: some group of the
// template has a rule for it, or declares no egress rule at all (a new
// group allows all egress). outside are the groups not in the template,
// seen the rules that do not cover the port.
func (c *checker) egressAllows(list []any, port int) (ok bool, outside, seen []string) {
	egress := c.rules("egress")
	for _, g := range list {
		s, isSym := g.(symbol)
		id := strings.TrimSuffix(s.name, ".GroupId")
		res, inTemplate := c.t.Resources[id]
		if !isSym || (s.kind != "resource" && s.kind != "getatt") || !inTemplate || res.Type != "AWS::EC2::SecurityGroup" {
			outside = append(outside, describe(g))
			continue
		}
		group := symbol{"resource", id}
		_, hasInline, err := c.lookup(res.Properties, "SecurityGroupEgress")
		if err != nil {
			outside = append(outside, id+" (its egress rules could not be resolved)")
			continue
		}
		mine := 0
		for _, r := range egress {
			if !sameGroup(r.group, group) {
				continue
			}
			mine++
			seen = append(seen, r.describe())
			if r.covers(port) {
				ok = true
			}
		}
		if !hasInline && mine == 0 {
			ok = true // a new group allows all egress
		}
	}
	return ok, outside, seen
}

// reportEgress reports the function's security groups (list) when they do
// not let TCP port out: an error, or a warning when a group is not in the
// template. why says what the port is for.
func (c *checker) reportEgress(f *function, list []any, port int, why, fix string) {
	ok, outside, seen := c.egressAllows(list, port)
	switch {
	case ok:
	case len(outside) > 0:
		c.add(SeverityWarning, CheckEgress, f.id, "Properties.VpcConfig.SecurityGroupIds",
			fmt.Sprintf("egress on TCP %d not checked: security group %s is not a resource of this template", port, strings.Join(outside, ", ")),
			fmt.Sprintf("make sure that group allows egress TCP %d", port))
	default:
		c.add(SeverityError, CheckEgress, f.id, "Properties.VpcConfig.SecurityGroupIds",
			fmt.Sprintf("the function's security groups allow %s out, not TCP %d, %s", strings.Join(seen, ", "), port, why), fix)
	}
}

// checkEgress checks that the function's security groups let TCP port out
// for what.
func (c *checker) checkEgress(f *function, port int, what string) {
	sgs, _, err := c.lookup(f.props, "VpcConfig.SecurityGroupIds")
	if err != nil {
		return // reported with the MSK port
	}
	list, _ := sgs.([]any)
	c.reportEgress(f, list, port, "which "+what+" needs: the function fails at Init",
		fmt.Sprintf("allow egress TCP %d to the service (an interface VPC endpoint's security group, or 0.0.0.0/0 through a NAT gateway)", port))
}

// checkMappingNetwork checks the cluster security group's rules that the
// template holds for an MSK trigger: the mapping's network interfaces
// carry the cluster's security groups, so a group that admits itself must
// do so on the auth's port.
func (c *checker) checkMappingNetwork(m mapping, auth kafkaconn.Auth, port int) {
	var self []sgRule
	for _, r := range c.rules("ingress") {
		if sameGroup(r.group, r.peer) {
			self = append(self, r)
		}
	}
	if len(self) == 0 {
		return
	}
	for _, r := range self {
		if r.covers(port) {
			return
		}
	}
	r := self[0]
	c.add(SeverityError, CheckIngress, r.resource, r.path,
		fmt.Sprintf("the cluster's security group admits itself on %s, not TCP %d: the MSK trigger (%s) polls the brokers on the port of %s auth from network interfaces carrying that group, and gets PROBLEM: Connection error", r.describe(), port, m.id, auth),
		fmt.Sprintf("set FromPort and ToPort to %d", port))
}
