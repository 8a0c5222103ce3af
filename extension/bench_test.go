package extension_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
)

// BenchmarkExtensionVsDirect measures the extension side by side with
// kafka-python signing its own IAM tokens (botocore, as AWS's
// aws-msk-iam-sasl-signer-python does), both functions under RIE against
// one emulator whose idle close is 3 s: the extension's start-up (to
// listening, to authenticated upstream connections, from its own log),
// its peak RSS, the produce latency of one record (acks=all, measured in
// the function), and the first publish at retries=0 after freezes of 4 s
// (past the idle close), and after freezes of 2 s in which the
// connections came to lead nowhere (the emulator drops what they carry
// until 300 ms after the thaw, as after a NAT lost their state). docs/BENCHMARKS.md has the numbers. Run it with
// -benchtime=1x: each run is the whole schedule.
func BenchmarkExtensionVsDirect(b *testing.B) {
	c := startCluster(b, emulator.WithLimits(emulator.Limits{IdleTimeout: emulator.Duration(3 * time.Second)}))
	env := mskEnv(c)
	env["MSK_PROXY_CHECK_AFTER"] = "1s"
	ext := startFunction(b, pythonBootstrap(b), env)
	denv := mskEnv(c)
	denv["FN_DIRECT"] = strings.Join(c.BootstrapAddrs(emulator.IAM), ",")
	direct := startFunctionExt(b, pythonBootstrap(b), denv, false)
	for range b.N {
		for _, f := range []*function{ext, direct} {
			if r := f.invoke(produce("orders", "warm")); !r.OK {
				b.Fatalf("warm-up: %+v", r)
			}
		}
		listening := ext.logLine("msklink extension listening")["since_start"]
		connected := ext.logLine("msklink extension connected to MSK")["since_start"]
		b.Logf("extension start to listening %v, to authenticated upstreams %v", listening, connected)
		for k, v := range map[string]any{"start-to-listen-ms": listening, "start-to-upstreams-ms": connected} {
			if d, err := time.ParseDuration(fmt.Sprint(v)); err == nil {
				b.ReportMetric(float64(d)/1e6, k)
			}
		}

		var extMs, directMs []float64
		for i := range 60 {
			for _, s := range []struct {
				f   *function
				out *[]float64
			}{{ext, &extMs}, {direct, &directMs}} {
				r := s.f.invoke(produce("orders", fmt.Sprintf("lat-%d", i)))
				if !r.OK {
					b.Fatalf("produce: %+v", r)
				}
				*s.out = append(*s.out, r.TookMs)
			}
		}
		p := func(xs []float64, q float64) float64 {
			s := slices.Clone(xs)
			slices.Sort(s)
			return s[int(q*float64(len(s)-1))]
		}
		b.Logf("produce latency ms: extension p50 %.2f p90 %.2f; direct p50 %.2f p90 %.2f", p(extMs, .5), p(extMs, .9), p(directMs, .5), p(directMs, .9))
		b.ReportMetric(p(extMs, .5), "ext-p50-ms")
		b.ReportMetric(p(directMs, .5), "direct-p50-ms")

		rss := peakRSS(ext)
		b.Logf("extension peak RSS %.1f MB", rss)
		b.ReportMetric(rss, "ext-peak-rss-MB")

		freezes(b, c, ext, direct, false)
		// Connections that lead nowhere: a cluster without idle close, so
		// that no connection is replaced while the emulator drops what
		// every connection carries (new ones too, unlike a NAT).
		c2 := startCluster(b)
		env2, denv2 := mskEnv(c2), mskEnv(c2)
		env2["MSK_PROXY_CHECK_AFTER"] = "1s"
		denv2["FN_DIRECT"] = strings.Join(c2.BootstrapAddrs(emulator.IAM), ",")
		ext2 := startFunction(b, pythonBootstrap(b), env2)
		direct2 := startFunctionExt(b, pythonBootstrap(b), denv2, false)
		for _, f := range []*function{ext2, direct2} {
			for i := range 6 { // every partition, so every broker connection
				if r := f.invoke(produce("orders", fmt.Sprintf("warm-%d", i))); !r.OK {
					b.Fatalf("warm-up: %+v", r)
				}
			}
		}
		freezes(b, c2, ext2, direct2, true)
	}
}

// freezes freezes both functions five times and counts the first
// publishes after the thaw that succeed at retries=0.
func freezes(b *testing.B, c *emulator.Cluster, ext, direct *function, blackhole bool) {
	okExt, okDirect, rounds := 0, 0, 5
	for i := range rounds {
		ext.signal(syscall.SIGSTOP)
		direct.signal(syscall.SIGSTOP)
		if blackhole {
			for n := range int32(3) {
				c.Listener(n, emulator.IAM).SetFaults(emulator.Faults{Blackhole: true})
			}
			time.Sleep(2 * time.Second)
		} else {
			time.Sleep(4 * time.Second) // past the idle close
		}
		done := make(chan [2]result, 1)
		go func() {
			var rs [2]result
			ch := make(chan result, 1)
			go func() { ch <- direct.invoke(produce("orders", fmt.Sprintf("thaw-direct-%d", i))) }()
			rs[0] = ext.invoke(produce("orders", fmt.Sprintf("thaw-ext-%d", i)))
			rs[1] = <-ch
			done <- rs
		}()
		time.Sleep(200 * time.Millisecond) // the invokes wait for the thaw
		ext.signal(syscall.SIGCONT)
		direct.signal(syscall.SIGCONT)
		if blackhole {
			time.Sleep(300 * time.Millisecond)
			for n := range int32(3) {
				c.Listener(n, emulator.IAM).SetFaults(emulator.Faults{})
			}
		}
		rs := <-done
		if rs[0].OK {
			okExt++
		} else {
			b.Logf("extension, freeze %d: %s %s", i, rs[0].Type, rs[0].Error)
		}
		if rs[1].OK {
			okDirect++
		} else {
			b.Logf("direct, freeze %d: %s %s", i, rs[1].Type, rs[1].Error)
		}
	}
	what := "idle-close"
	if blackhole {
		what = "lead-nowhere"
	}
	b.Logf("first publish after a freeze (%s): extension %d/%d, direct %d/%d", what, okExt, rounds, okDirect, rounds)
	b.ReportMetric(float64(okExt)/float64(rounds)*100, "ext-thaw-"+what+"-%")
	b.ReportMetric(float64(okDirect)/float64(rounds)*100, "direct-thaw-"+what+"-%")
}

// peakRSS returns the extension process's peak resident memory (VmHWM),
// in MB.
func peakRSS(f *function) float64 {
	for _, pid := range testutil.ProcessTree(f.cmd.Process.Pid) {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		if strings.TrimSpace(string(comm)) != "msklink" {
			continue
		}
		st, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		for _, line := range strings.Split(string(st), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
				return float64(kb) / 1024
			}
		}
	}
	return 0
}
