package cli

import (
	"errors"
	"flag"
	"log/slog"
	"strings"
)

// logLevelUsage is --log-level in a command's usage line.
const logLevelUsage = "[--log-level debug|info|warn|error]"

// logLevelFlag registers --log-level on fs, for the long-running commands
// (proxy, local, esm, and the extension): the least severe records they
// write on stderr, default info. A value other than debug, info, warn or
// error fails parseFlags with a usage error (exit 2) naming the flag and
// the accepted values.
func logLevelFlag(fs *flag.FlagSet) *slog.LevelVar {
	lv := new(slog.LevelVar) // the zero value is info
	fs.Var((*levelValue)(lv), "log-level", "least severe log records written on stderr: debug, info, warn or error")
	return lv
}

// levelValue is a slog.LevelVar as a flag.Value with exactly the four
// names (slog's own parser also takes "INFO+2" and the like).
type levelValue slog.LevelVar

var errLogLevel = errors.New("use debug, info, warn or error")

func (v *levelValue) String() string {
	if v == nil {
		return "info"
	}
	return strings.ToLower((*slog.LevelVar)(v).Level().String())
}

func (v *levelValue) Set(s string) error {
	var l slog.Level
	switch strings.ToLower(s) {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		return errLogLevel
	}
	(*slog.LevelVar)(v).Set(l)
	return nil
}
