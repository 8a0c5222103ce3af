package kafkaconn

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestLoggerLevels: franz-go's info and debug lines reach an slog handler
// at debug only; its warnings and errors at their own level.
func TestLoggerLevels(t *testing.T) {
	for _, tc := range []struct {
		level     slog.Level
		wantLevel kgo.LogLevel
		shown     []kgo.LogLevel
		hidden    []kgo.LogLevel
	}{
		{slog.LevelDebug, kgo.LogLevelDebug, []kgo.LogLevel{kgo.LogLevelDebug, kgo.LogLevelInfo, kgo.LogLevelWarn, kgo.LogLevelError}, nil},
		{slog.LevelInfo, kgo.LogLevelWarn, []kgo.LogLevel{kgo.LogLevelWarn, kgo.LogLevelError}, []kgo.LogLevel{kgo.LogLevelInfo, kgo.LogLevelDebug}},
		{slog.LevelError, kgo.LogLevelError, []kgo.LogLevel{kgo.LogLevelError}, []kgo.LogLevel{kgo.LogLevelWarn, kgo.LogLevelInfo}},
	} {
		var b bytes.Buffer
		l := NewLogger(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: tc.level})))
		if got := l.Level(); got != tc.wantLevel {
			t.Errorf("slog %s: Level() = %v, want %v", tc.level, got, tc.wantLevel)
		}
		for _, lv := range tc.shown {
			b.Reset()
			l.Log(lv, "line")
			if !strings.Contains(b.String(), "msg=line") {
				t.Errorf("slog %s: franz-go %v line not logged", tc.level, lv)
			}
		}
		for _, lv := range tc.hidden {
			b.Reset()
			l.Log(lv, "line")
			if b.Len() != 0 {
				t.Errorf("slog %s: franz-go %v line logged: %s", tc.level, lv, b.String())
			}
		}
	}
}
