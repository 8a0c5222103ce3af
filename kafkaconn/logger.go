package kafkaconn

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Logger adapts an *slog.Logger to franz-go's kgo.Logger. franz-go's
// debug level is very chatty; the adapter reports what the slog handler
// enables, capped at info unless debug is enabled.
type Logger struct{ l *slog.Logger }

// NewLogger returns a kgo.Logger writing to l.
func NewLogger(l *slog.Logger) *Logger { return &Logger{l} }

// Level implements kgo.Logger.
func (l *Logger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case l.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
	case l.l.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelInfo
	case l.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	case l.l.Enabled(ctx, slog.LevelError):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

// Log implements kgo.Logger.
func (l *Logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var sl slog.Level
	switch level {
	case kgo.LogLevelError:
		sl = slog.LevelError
	case kgo.LogLevelWarn:
		sl = slog.LevelWarn
	case kgo.LogLevelInfo:
		sl = slog.LevelInfo
	default:
		sl = slog.LevelDebug
	}
	l.l.Log(context.Background(), sl, msg, keyvals...)
}
