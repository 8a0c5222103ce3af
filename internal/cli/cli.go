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

// command is one command or subcommand. run gets the arguments after the
// command's name; a command with subcommands (subs) dispatches to them,
// and runs itself (run, if not nil) when the first argument names none.
type command struct {
	name    string
	summary string
	usage   string // the argument synopsis, after "msklink <path> " (see newFlagSet)
	run     func(ctx context.Context, e *env, args []string) error
	subs    []*command
}

// commands is the command table. Keep it sorted by name.
func commands() []*command {
	cmds := []*command{
		{name: "deploy", summary: "write the SAM / CloudFormation template that deploys the Lambda function next to MSK with least privilege, or check one for what MSK needs", subs: []*command{
			{name: "check", summary: "check SAM / CloudFormation templates for what MSK needs: ports, the role's actions, runtime, mapping rules, secrets", usage: deployCheckUsage, run: runDeployCheckCmd},
			{name: "template", summary: "write the SAM / CloudFormation template of the publisher function (--esm: the MSK-triggered consumer)", usage: deployTemplateUsage, run: runDeployTemplate},
		}},
		{name: "demo", summary: "run the Lambda handler against a local emulated MSK and check every record round-trips", usage: demoUsage, run: runDemo},
		{name: "invoke", summary: "run the Lambda handler in-process on an event file against the configured cluster", usage: invokeUsage, run: runInvoke},
		{name: "local", summary: "run a local MSK emulator (IAM, SCRAM, TLS listeners) until interrupted", usage: localUsage, run: runLocal},
		{name: "proxy", summary: "serve Kafka clients without IAM support on local listeners, connected to MSK with this machine's IAM identity", usage: proxyUsage, run: runProxy},
		{name: "produce", summary: "publish records from stdin (lines or JSON), kcat-like", usage: produceUsage, run: runProduce},
		{name: "consume", summary: "print records of a topic, kcat-like", usage: consumeUsage, run: runConsume},
		{name: "doctor", summary: "diagnose a connection to MSK layer by layer: one verdict, a cause code and the fix", usage: doctorUsage, run: runDoctor},
		{name: "esm", summary: "run a local event source mapping: invoke a function with Lambda's MSK events, commit what it accepted", usage: esmUsage, run: runESM},
		{name: "explain", summary: "explain a Kafka client's error message: likely causes and the doctor command that confirms each", usage: explainUsage, run: runExplain},
		{name: "policy", summary: "generate or check the IAM policy for a workload (kafka-cluster actions), or a Lambda MSK trigger's role (--esm)", subs: []*command{
			{name: "generate", summary: "print the least-privilege IAM policy for a workload", usage: policyGenerateUsage, run: runPolicyGenerate},
			{name: "check", summary: "list what IAM policy documents lack for a workload", usage: policyCheckUsage, run: runPolicyCheck},
		}},
		{name: "token", summary: "print or inspect an MSK IAM authentication token", usage: tokenUsage, run: runToken, subs: []*command{
			{name: "inspect", summary: "decode an MSK IAM token: region, access key id, signing time, expiry", usage: tokenInspectUsage, run: runTokenInspect},
		}},
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
	if isHelpArg(name) {
		if len(rest) == 0 {
			printHelp(e.stdout)
			return nil
		}
		// msklink help CMD [SUB]: what CMD [SUB] --help prints.
		c, path, extra := lookupPath(rest)
		if c == nil || len(extra) > 0 {
			return usagef("unknown help topic %q: run 'msklink help' for the commands", strings.Join(rest, " "))
		}
		return dispatch(ctx, e, c, path, []string{"--help"})
	}
	c := lookup(commands(), name)
	if c == nil {
		return usagef("unknown command %q", name)
	}
	return dispatch(ctx, e, c, name, rest)
}

// isHelpArg reports whether arg asks for help.
func isHelpArg(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// dispatch runs command c (path is how it is typed after "msklink") with
// args: the subcommand args[0] names, or c itself. Help asked of a
// command with subcommands is its own (if it runs) and each subcommand's.
func dispatch(ctx context.Context, e *env, c *command, path string, args []string) error {
	if len(c.subs) > 0 {
		if len(args) > 0 {
			if s := lookup(c.subs, args[0]); s != nil {
				return dispatch(ctx, e, s, path+" "+s.name, args[1:])
			}
		}
		if len(args) > 0 && isHelpArg(args[0]) {
			if c.run != nil {
				if err := c.run(ctx, e, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "usage: msklink %s <command> [flags]\n\n%s.\n", path, upperFirst(c.summary))
			}
			for _, s := range c.subs {
				fmt.Fprintf(e.stdout, "\n")
				if err := dispatch(ctx, e, s, path+" "+s.name, []string{"--help"}); !errors.Is(err, flag.ErrHelp) {
					return err
				}
			}
			return flag.ErrHelp
		}
		if c.run == nil {
			var names []string
			for _, s := range c.subs {
				names = append(names, s.name)
			}
			if len(args) == 0 {
				return usagef("%s: want a subcommand: %s (msklink help %s)", path, strings.Join(names, " or "), path)
			}
			return usagef("%s: unknown subcommand %q: want %s (msklink help %s)", path, args[0], strings.Join(names, " or "), path)
		}
	}
	return c.run(ctx, e, args)
}

// lookup returns the command of cmds named name, or nil.
func lookup(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// lookupPath resolves words ("policy", "generate") to a command, its path
// and the words left over.
func lookupPath(words []string) (c *command, path string, rest []string) {
	cmds := commands()
	for i, w := range words {
		s := lookup(cmds, w)
		if s == nil {
			return c, path, words[i:]
		}
		c, cmds = s, s.subs
		path = strings.TrimSpace(path + " " + w)
	}
	return c, path, nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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

// newFlagSet returns a FlagSet for command name (its path after
// "msklink", e.g. "policy generate") that reports errors through Run
// (ContinueOnError). -h and --help print the command's help on e.stdout
// (help asked for: exit 0; a usage error goes to stderr, exit 2): usage
// is the synopsis after "msklink NAME "; further synopsis lines (up to
// the first blank line) are printed as "msklink NAME <line>", and what
// follows the blank line is the description.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Parse errors come back through Run as one line; only -h prints the
	// whole usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	help := func(string) error {
		var b strings.Builder
		synopsis, doc, _ := strings.Cut(usage, "\n\n")
		for i, line := range strings.Split(synopsis, "\n") {
			prefix := "usage: "
			if i > 0 {
				prefix = "       "
			}
			fmt.Fprintf(&b, "%s%s\n", prefix, strings.TrimRight("msklink "+name+" "+strings.TrimSpace(line), " "))
		}
		if doc != "" {
			fmt.Fprintf(&b, "\n%s\n", strings.TrimRight(doc, "\n"))
		}
		b.WriteString("\nFlags:\n")
		fs.SetOutput(&b)
		fs.VisitAll(func(f *flag.Flag) {
			if f.Name != "h" && f.Name != "help" {
				printFlag(&b, f)
			}
		})
		fs.SetOutput(io.Discard)
		b.WriteString("  -h, --help\n    \tprint this help\n")
		io.WriteString(e.stdout, b.String())
		return flag.ErrHelp
	}
	fs.BoolFunc("h", "print this help", help)
	fs.BoolFunc("help", "print this help", help)
	return fs
}

// printFlag writes one flag as flag.PrintDefaults does.
func printFlag(w io.Writer, f *flag.Flag) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.Var(f.Value, f.Name, f.Usage)
	fs.Lookup(f.Name).DefValue = f.DefValue
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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
	fmt.Fprintln(e.stdout, versionLine())
	return nil
}
