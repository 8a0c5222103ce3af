package kafkaconn

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Logger adapts an *slog.Logger to franz-go's kgo.Logger. franz-go's info
// level is the client's own life (group joins and assignments, metadata
// moves, a heartbeat ended by leaving the group) and its debug level is
// very chatty: both are logged at slog's debug level, so an application
// logging at info sees franz-go's warnings and errors only.
type Logger struct{ l *slog.Logger }

// NewLogger returns a kgo.Logger writing to l.
func NewLogger(l *slog.Logger) *Logger { return &Logger{l} }

// Level implements kgo.Logger.
func (l *Logger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case l.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
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
	default: // info and debug
		sl = slog.LevelDebug
	}
	l.l.Log(context.Background(), sl, msg, keyvals...)
}
