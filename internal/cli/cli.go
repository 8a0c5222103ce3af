// Package cli implements the msklink command line: a small table of
// subcommands, each with its own flag.FlagSet, in the shape of cmd/go.
//
// Exit codes: 0 ok, 1 a problem was found (or the command failed), 2 usage
// error. Commands that a script may read take --json.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Version is the msklink version, set at link time with
// -ldflags "-X github.com/msklink/msklink/internal/cli.Version=v1.2.3".
var Version = "devel"

// env is what every command gets: its standard streams and the process
// environment (injectable so tests need not touch os.Environ).
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	name    string
	summary string
	usage   string // the argument synopsis, after "msklink <name> "
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the command table. Keep it sorted by name.
func commands() []*command {
	cmds := []*command{
		{name: "deploy", summary: "write the SAM / CloudFormation template that deploys the Lambda function next to MSK with least privilege, or check one for what MSK needs", usage: deployUsage, run: runDeploy},
		{name: "demo", summary: "run the Lambda handler against a local emulated MSK and check every record round-trips", usage: demoUsage, run: runDemo},
		{name: "invoke", summary: "run the Lambda handler in-process on an event file against the configured cluster", usage: invokeUsage, run: runInvoke},
		{name: "local", summary: "run a local MSK emulator (IAM, SCRAM, TLS listeners) until interrupted", usage: localUsage, run: runLocal},
		{name: "proxy", summary: "serve Kafka clients without IAM support on local listeners, connected to MSK with this machine's IAM identity", usage: proxyUsage, run: runProxy},
		{name: "produce", summary: "publish records from stdin (lines or JSON), kcat-like", usage: produceUsage, run: runProduce},
		{name: "consume", summary: "print records of a topic, kcat-like", usage: consumeUsage, run: runConsume},
		{name: "doctor", summary: "diagnose a connection to MSK layer by layer: one verdict, a cause code and the fix", usage: doctorUsage, run: runDoctor},
		{name: "esm", summary: "run a local event source mapping: invoke a function with Lambda's MSK events, commit what it accepted", usage: esmUsage, run: runESM},
		{name: "explain", summary: "explain a Kafka client's error message: likely causes and the doctor command that confirms each", usage: explainUsage, run: runExplain},
		{name: "policy", summary: "generate or check the IAM policy for a workload (kafka-cluster actions), or a Lambda MSK trigger's role (--esm)", usage: policyUsage, run: runPolicy},
		{name: "token", summary: "print or inspect an MSK IAM authentication token", usage: tokenUsage, run: runToken},
		{name: "version", summary: "print the msklink version", usage: "", run: runVersion},
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	return cmds
}

// UsageError is returned for bad command lines; ExitCode maps it to 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// errProblem is returned by commands that ran but found a problem they have
// already reported (doctor, a failed round trip): exit 1, nothing more printed.
var errProblem = errors.New("problem found")

// ExitCode maps the error Run returned to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return 2
	default:
		return 1
	}
}

// Run runs the msklink command line args (without the program name) and
// reports errors on stderr. The returned error decides the exit code (see
// ExitCode).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	err := run(ctx, e, args)
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.Is(err, errProblem):
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "msklink: %s\nRun 'msklink help' for usage.\n", ue.Msg)
	default:
		fmt.Fprintf(stderr, "msklink: %v\n", err)
	}
	return err
}

func run(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		printHelp(e.stderr)
		return usagef("no command given")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if c := lookup(rest[0]); c != nil {
				fmt.Fprintf(e.stdout, "usage: msklink %s %s\n\n%s.\n", c.name, c.usage, c.summary)
				return nil
			}
			return usagef("unknown help topic %q", rest[0])
		}
		printHelp(e.stdout)
		return nil
	}
	c := lookup(name)
	if c == nil {
		return usagef("unknown command %q", name)
	}
	return c.run(ctx, e, rest)
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

func printHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString("msklink connects AWS Lambda and Go services to Amazon MSK with IAM auth.\n\nUsage:\n\n\tmsklink <command> [arguments]\n\nCommands:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "\t%-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'msklink help <command>' for a command's usage.\n")
	io.WriteString(w, b.String())
}

// newFlagSet returns a FlagSet for command name that reports errors through
// Run (ContinueOnError) and prints its usage on e.stderr.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Parse errors come back through Run as one line; only -h prints the
	// whole usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	help := func(string) error {
		fmt.Fprintf(e.stderr, "usage: msklink %s %s\n\nFlags:\n", name, usage)
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return flag.ErrHelp
	}
	fs.BoolFunc("h", "print this help", help)
	fs.BoolFunc("help", "print this help", help)
	return fs
}

// parseFlags parses args into fs and turns flag errors into usage errors.
// Flags may follow positional arguments ("token inspect TOK --json").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) || strings.HasSuffix(err.Error(), flag.ErrHelp.Error()) {
				return nil, flag.ErrHelp
			}
			return nil, &UsageError{Msg: fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "msklink %s\n", Version)
	return nil
}
