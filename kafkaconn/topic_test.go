package kafkaconn

import (
	"strings"
	"testing"
)

func TestCheckTopicName(t *testing.T) {
	for _, ok := range []string{"orders", "a", "orders.v2_eu-west", strings.Repeat("t", 249)} {
		if err := CheckTopicName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                       `topic name "" is not valid`,
		".":                      `topic name "." is not valid`,
		"..":                     `topic name ".." is not valid`,
		strings.Repeat("t", 250): "250 characters is too long: Kafka allows 249",
		"new orders":             `"new orders" has ' '`,
		"orders/eu":              `has '/'`,
		"orders-*":               `has '*'`,
		"zürich":                 `has 'ü'`,
	} {
		err := CheckTopicName(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}
