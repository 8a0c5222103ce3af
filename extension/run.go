package extension

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/proxy"
)

// shutdownMargin is kept from the SHUTDOWN event's deadline for the
// extension to log and exit before Lambda kills it.
const shutdownMargin = 100 * time.Millisecond

// Run is the extension's whole life: it registers with the Extensions API
// at runtimeAPI (AWS_LAMBDA_RUNTIME_API) as name (its file name in
// /opt/extensions), reads its settings with getenv, logs JSON lines to w
// (Lambda sends an extension's stdout to the function's log), starts the proxy's
// listeners, checks MSK within the Init timeout, and serves until the
// SHUTDOWN event (or ctx's end), when it shuts the proxy down within the
// event's deadline.
//
// Bad settings are logged in one line and reported to Lambda as an Init
// error (Extension.ConfigInvalid); Run then returns the error. MSK that
// cannot be reached or refuses the function's role is no error: it is
// logged in one line with the doctor's cause code and fix, and clients get
// the proxy's Kafka errors until MSK answers.
func Run(ctx context.Context, runtimeAPI, name string, getenv func(string) string, w io.Writer) error {
	start := time.Now()
	level := new(slog.LevelVar)
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("extension", "msklink")
	if runtimeAPI == "" {
		err := errors.New("extension: AWS_LAMBDA_RUNTIME_API is not set: the extension runs inside Lambda (or AWS's Runtime Interface Emulator), from /opt/extensions")
		log.Error("msklink extension cannot start", "err", err.Error())
		return err
	}
	api := newClient(runtimeAPI)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := api.register(rctx, filepath.Base(name))
	cancel()
	if err != nil {
		log.Error("msklink extension cannot register", "err", err.Error())
		return err
	}
	fail := func(errorType string, err error) error {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if rerr := api.initError(ictx, errorType, err); rerr != nil {
			log.Warn("reporting the Init error to Lambda failed", "err", rerr.Error())
		}
		return err
	}

	s, err := FromEnv(getenv)
	if err != nil {
		log.Error("msklink extension: bad configuration: the function's Kafka client will find nothing at "+s.Listen,
			"error_type", "Extension.ConfigInvalid", "err", oneLine(err))
		return fail("Extension.ConfigInvalid", err)
	}
	level.Set(s.LogLevel)
	p, err := proxy.Start(ctx, s.Upstream, proxy.WithListen(s.Listen), proxy.WithLogger(log),
		proxy.WithDeferredDiscovery(), proxy.WithUpstreamChecks(s.CheckAfter, s.CheckTimeout),
		proxy.WithFailureMemory(s.FailureMemory))
	if err != nil {
		errorType := "Extension.ConfigInvalid"
		if !errors.Is(err, proxy.ErrExposed) && isListenError(err) {
			errorType = "Extension.ListenFailed"
		}
		log.Error("msklink extension: cannot start: the function's Kafka client will find nothing at "+s.Listen,
			"error_type", errorType, "err", oneLine(err))
		return fail(errorType, err)
	}
	log.Info("msklink extension listening", "bootstrap", p.Addr(), "since_start", since(start))

	check(ctx, p, s, log, start)

	for {
		ev, err := api.next(ctx)
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			p.Shutdown(sctx)
			cancel()
			if ctx.Err() != nil {
				log.Info("msklink extension stopped", "reason", context.Cause(ctx).Error())
				return nil
			}
			log.Error("msklink extension: the Extensions API failed: stopping", "err", err.Error())
			ectx, cancel := context.WithTimeout(context.Background(), time.Second)
			api.exitError(ectx, "Extension.EventLoopFailed", err) // best effort: the API may be gone
			cancel()
			return err
		}
		switch ev.EventType {
		case Invoke:
			// A hint that the environment thawed: silent upstream
			// connections are checked now, in parallel with the runtime's
			// start of the invocation. The proxy checks them before it
			// forwards on them anyway, whichever comes first.
			log.Debug("invoke", "request_id", ev.RequestID)
			p.CheckIdle()
		case Shutdown:
			shutdown(p, ev, log)
			return nil
		}
	}
}

// check opens and authenticates the upstream connections within the Init
// timeout, and logs the outcome in one line.
func check(ctx context.Context, p *proxy.Proxy, s Settings, log *slog.Logger, start time.Time) {
	ictx, cancel := context.WithTimeout(ctx, s.InitTimeout)
	defer cancel()
	err := p.Discover(ictx)
	if err == nil {
		err = p.Warm(ictx)
	}
	if err == nil {
		log.Info("msklink extension connected to MSK", "brokers", len(p.Brokers())-1, "since_start", since(start))
		return
	}
	cause := doctor.CauseOf(err)
	attrs := []any{"cause", cause, "err", oneLine(err), "bootstrap", fmt.Sprint(s.Upstream.Brokers), "since_start", since(start)}
	if d, ok := doctor.CauseInfo(cause); ok {
		attrs = append(attrs, "meaning", d.Meaning, "fix", d.Fix)
	}
	log.Error("msklink extension cannot reach MSK: the function's Kafka client gets Kafka errors until it can", attrs...)
}

// shutdown stops the proxy within the SHUTDOWN event's deadline.
func shutdown(p *proxy.Proxy, ev Event, log *slog.Logger) {
	deadline := ev.Deadline().Add(-shutdownMargin)
	if ev.DeadlineMs == 0 || time.Until(deadline) <= 0 {
		deadline = time.Now().Add(200 * time.Millisecond)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := p.Shutdown(ctx)
	st := p.Stats()
	attrs := []any{"reason", ev.ShutdownReason, "took", since(start), "connections_served", st.Accepted,
		"reconnects_and_failures", st.UpstreamFailures, "reauthentications", st.Reauthentications}
	if err != nil {
		attrs = append(attrs, "err", "the shutdown budget ran out: connections closed with answers pending")
	}
	log.Info("msklink extension shut down", attrs...)
}

func since(t time.Time) string { return time.Since(t).Round(time.Millisecond).String() }

func isListenError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "listen"
}
