package kafkaconn

import "fmt"

// CheckTopicName applies Kafka's topic name rules (1 to 249 characters,
// ASCII letters, digits, '.', '_' and '-', not "." or ".."): the broker
// refuses any other name. The error names the topic and the rule.
func CheckTopicName(t string) error {
	if t == "" || t == "." || t == ".." {
		return fmt.Errorf("topic name %q is not valid", t)
	}
	if len(t) > 249 {
		return fmt.Errorf("topic name of %d characters is too long: Kafka allows 249", len(t))
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			shown := t
			if len(shown) > 60 {
				shown = shown[:60] + "..."
			}
			return fmt.Errorf("topic name %q has %q: Kafka topic names use only ASCII letters, digits, '.', '_' and '-'", shown, r)
		}
	}
	return nil
}
