package esm

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/msklink/msklink/esm/eventfilter"
)

// Lambda's ranges and defaults for Kafka event source mappings.
const (
	// DefaultBatchSize and the range of WithBatchSize: BatchSize in
	// https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
	// ("Amazon Managed Streaming for Apache Kafka – Default 100. Max 10,000").
	DefaultBatchSize = 100
	MinBatchSize     = 1
	MaxBatchSize     = 10000

	// DefaultBatchingWindow and MaxBatchingWindow bound WithBatchingWindow:
	// MaximumBatchingWindowInSeconds, "any value from 0 seconds to 300
	// seconds ... For Amazon MSK, Self-managed Apache Kafka, Amazon MQ, and
	// DocumentDB event sources, the default batching window is 500 ms".
	DefaultBatchingWindow = 500 * time.Millisecond
	MaxBatchingWindow     = 300 * time.Second

	// MaxRetryAttempts bounds WithMaximumRetryAttempts (0-10000, or -1 for
	// infinite, the default), and MinRecordAge/MaxRecordAge
	// WithMaximumRecordAge (60-604800 seconds, or -1 for infinite, the
	// default): https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html.
	MaxRetryAttempts = 10000
	MinRecordAge     = 60 * time.Second
	MaxRecordAge     = 604800 * time.Second

	// RetriesWithOnFailure is how many retries Lambda applies when retries
	// are infinite and an on-failure destination is set ("Lambda
	// automatically applies a maximum of 10 retry attempts", same page).
	RetriesWithOnFailure = 10

	// DefaultFunctionTimeout bounds one invocation: "event source mappings
	// for Amazon MSK, self-managed Apache Kafka ... only support functions
	// with maximum timeout limits of 14 minutes" (with-msk.html).
	DefaultFunctionTimeout = 14 * time.Minute

	// DefaultFunctionARN is the ARN in on-failure records when none is
	// given: the one AWS's Runtime Interface Emulator gives its function.
	DefaultFunctionARN = "arn:aws:lambda:us-east-1:012345678912:function:test_function"
)

// StartingPosition is where a consumer group without committed offsets
// starts reading.
type StartingPosition string

const (
	// TrimHorizon starts at the oldest record of each partition.
	TrimHorizon StartingPosition = "TRIM_HORIZON"
	// Latest starts after the newest record of each partition.
	Latest StartingPosition = "LATEST"
)

// ParseStartingPosition reads TRIM_HORIZON or LATEST (any case).
func ParseStartingPosition(s string) (StartingPosition, error) {
	switch p := StartingPosition(strings.ToUpper(s)); p {
	case TrimHorizon, Latest:
		return p, nil
	}
	return "", &OptionError{Option: "starting position", Value: s, Valid: "use TRIM_HORIZON (the oldest records) or LATEST (only new ones)"}
}

// OptionError is a bad option value: the option, the value, and the valid
// values or the fix.
type OptionError struct {
	Option, Value, Valid string
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("esm: %s %s: %s", e.Option, e.Value, e.Valid)
}

// Opt configures New.
type Opt func(*config)

type config struct {
	fn              Function
	groupID         string
	eventSourceARN  string
	functionARN     string
	batchSize       int
	window          time.Duration
	start           StartingPosition
	startSet        bool // WithStartingPosition was given
	reportFailures  bool
	maxRetries      int
	maxAge          time.Duration // < 0: infinite
	bisect          bool
	onFailureTopic  string
	filters         *eventfilter.Criteria
	functionTimeout time.Duration
	backoffMin      time.Duration
	backoffMax      time.Duration
	logger          *slog.Logger
	now             func() time.Time
	onInvoke        func(Invocation)
	onGiveUp        func(GiveUp)
	onAssign        func([]PartitionStart)
	onFilter        func(Filtered)
	maxPayload      int // MaxPayloadBytes; lowered by tests only
	decoder         RecordDecoder
}

// WithFunction sets the function to invoke (required): an *HTTPFunction
// (Lambda's Invoke API, as aws-lambda-rie serves it), a *CommandFunction,
// or any in-process Function.
func WithFunction(f Function) Opt { return func(c *config) { c.fn = f } }

// WithGroupID sets the consumer group id. Lambda names the group after the
// event source mapping's UUID, or takes the customizable consumer group ID.
// Default: a fresh random UUID (see ESM.GroupID): a new mapping.
func WithGroupID(id string) Opt { return func(c *config) { c.groupID = id } }

// WithEventSourceARN sets the MSK cluster ARN. With it the events are
// Amazon MSK's ("eventSource": "aws:kafka" with "eventSourceArn"); without
// it they are self-managed Kafka's ("SelfManagedKafka"). Default: none.
func WithEventSourceARN(arn string) Opt { return func(c *config) { c.eventSourceARN = arn } }

// WithFunctionARN sets the function ARN written in on-failure records.
// Default DefaultFunctionARN.
func WithFunctionARN(arn string) Opt { return func(c *config) { c.functionARN = arn } }

// WithBatchSize sets the most records in one event, 1-10000. Default 100.
func WithBatchSize(n int) Opt { return func(c *config) { c.batchSize = n } }

// WithBatchingWindow sets how long a batch gathers records after its first
// one before the function is invoked, 0-300 s. Default 500 ms, Lambda's
// for Kafka. (Lambda takes whole seconds past the default; any duration in
// range is accepted here.)
func WithBatchingWindow(d time.Duration) Opt { return func(c *config) { c.window = d } }

// WithStartingPosition sets where the mapping starts when it first runs:
// when its group has no committed offset on the topic. It is then
// resolved to an offset per partition and committed, so it is part of the
// mapping: a later Run with the same group id resumes from the commits
// whatever its own starting position says (it logs a warning when that
// differs), as Lambda fixes StartingPosition when the mapping is created.
// Default Latest.
func WithStartingPosition(p StartingPosition) Opt {
	return func(c *config) { c.start, c.startSet = p, true }
}

// WithReportBatchItemFailures turns on ReportBatchItemFailures: the
// function's partial batch response is read (see ItemIdentifier). Default
// off: a response is a success whatever it holds, as Lambda ignores
// batchItemFailures unless the mapping enables them.
func WithReportBatchItemFailures(on bool) Opt { return func(c *config) { c.reportFailures = on } }

// WithMaximumRetryAttempts sets how many times a failed record is retried,
// 0-10000, or -1 for infinite. Default -1 (10 when an on-failure topic is
// set, as Lambda does).
func WithMaximumRetryAttempts(n int) Opt { return func(c *config) { c.maxRetries = n } }

// WithMaximumRecordAge sets the oldest record sent to the function,
// 60 s-7 days, or -1 (any negative duration) for infinite. Default
// infinite.
func WithMaximumRecordAge(d time.Duration) Opt {
	return func(c *config) { c.maxAge = d }
}

// WithBisectBatchOnFunctionError splits a batch in two when the function
// returns an error, and retries each half. Default off.
func WithBisectBatchOnFunctionError(on bool) Opt { return func(c *config) { c.bisect = on } }

// WithOnFailureTopic sets the Kafka on-failure destination: records given
// up are written there, one message per record, in the format of
// https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html
// (see GiveUp). It must be another topic of the same cluster. Default
// none: records given up are dropped (and logged).
func WithOnFailureTopic(topic string) Opt { return func(c *config) { c.onFailureTopic = topic } }

// WithFilters sets the mapping's FilterCriteria (eventfilter.Parse or
// eventfilter.Compile): a record whose value matches none of the filters
// is not delivered, and is committed with the records around it ("For
// Kafka, Lambda commits offsets for matched and unmatched messages").
// Filtering comes before batching: a filtered record takes no place in a
// batch, starts no batching window, and is never given up or written to
// the on-failure topic. Stats.Filtered counts them. Default none: every
// record is delivered.
func WithFilters(fc *eventfilter.Criteria) Opt { return func(c *config) { c.filters = fc } }

// WithOnFilter calls f for each record filtered out, when its batch is
// gathered (before its offset is committed), from the goroutine running
// Run. Default none.
func WithOnFilter(f func(Filtered)) Opt { return func(c *config) { c.onFilter = f } }

// WithFunctionTimeout bounds each invocation. Default 14 minutes, the most
// Lambda allows a Kafka-triggered function.
func WithFunctionTimeout(d time.Duration) Opt { return func(c *config) { c.functionTimeout = d } }

// WithRetryBackoff sets the wait before retrying a failed batch: min,
// doubling to max. Default 100 ms to 5 s. (Lambda does not document its
// pause between retries.)
func WithRetryBackoff(min, max time.Duration) Opt {
	return func(c *config) { c.backoffMin, c.backoffMax = min, max }
}

// WithLogger logs each invocation, record given up and problem through l.
// Default: no logging.
func WithLogger(l *slog.Logger) Opt { return func(c *config) { c.logger = l } }

// WithClock sets the clock for record ages and on-failure timestamps.
// Default time.Now.
func WithClock(now func() time.Time) Opt { return func(c *config) { c.now = now } }

// WithOnInvoke calls f after each invocation, from the goroutine running
// Run. Default none.
func WithOnInvoke(f func(Invocation)) Opt { return func(c *config) { c.onInvoke = f } }

// WithOnAssign calls f each time the group assigns partitions to the
// mapping, with where each starts, before any record of them is
// delivered. f runs in the consumer group's goroutine: it must not block.
// Default none (the assignment is logged at Info).
func WithOnAssign(f func([]PartitionStart)) Opt { return func(c *config) { c.onAssign = f } }

// WithOnGiveUp calls f for each record given up, after it was written to
// the on-failure topic (if any) and before its offset is committed, from
// the goroutine running Run. Default none.
func WithOnGiveUp(f func(GiveUp)) Opt { return func(c *config) { c.onGiveUp = f } }

// validGroupID reports whether id matches ConsumerGroupId's pattern in
// Lambda's API (AmazonManagedKafkaEventSourceConfig),
// [a-zA-Z0-9-/*:_+=.@-]{1,200}. Checked by hand: that regular expression
// compiles to 200 copies of its class, 2 ms of every msklink command's
// start-up as a package variable.
func validGroupID(id string) bool {
	if len(id) < 1 || len(id) > 200 {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("-/*:_+=.@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func defaultConfig() config {
	return config{
		batchSize: DefaultBatchSize, window: DefaultBatchingWindow, start: Latest,
		maxRetries: -1, maxAge: -1, functionTimeout: DefaultFunctionTimeout,
		functionARN: DefaultFunctionARN, backoffMin: 100 * time.Millisecond, backoffMax: 5 * time.Second,
		now: time.Now, maxPayload: MaxPayloadBytes,
	}
}

// validate checks every option and returns the first problem.
func (c *config) validate(sourceTopic string) error {
	switch {
	case c.fn == nil:
		return &OptionError{Option: "function", Value: "(none)", Valid: "give the function to invoke with WithFunction (an HTTPFunction for aws-lambda-rie, a CommandFunction, or an in-process one)"}
	case c.batchSize < MinBatchSize || c.batchSize > MaxBatchSize:
		return &OptionError{Option: "batch size", Value: strconv.Itoa(c.batchSize), Valid: "Lambda's range for Kafka is 1-10000"}
	case c.window < 0 || c.window > MaxBatchingWindow:
		return &OptionError{Option: "batching window", Value: c.window.String(), Valid: "Lambda's range is 0-300s"}
	case c.start != TrimHorizon && c.start != Latest:
		return &OptionError{Option: "starting position", Value: string(c.start), Valid: "use TRIM_HORIZON or LATEST"}
	case c.maxRetries < -1 || c.maxRetries > MaxRetryAttempts:
		return &OptionError{Option: "maximum retry attempts", Value: strconv.Itoa(c.maxRetries), Valid: "Lambda's range is 0-10000, or -1 for infinite"}
	case c.maxAge >= 0 && (c.maxAge < MinRecordAge || c.maxAge > MaxRecordAge):
		return &OptionError{Option: "maximum record age", Value: c.maxAge.String(), Valid: "Lambda's range is 60s-604800s (7 days), or -1 for infinite"}
	case c.functionTimeout <= 0:
		return &OptionError{Option: "function timeout", Value: c.functionTimeout.String(), Valid: "must be positive"}
	case c.backoffMin < 0 || c.backoffMax < c.backoffMin:
		return &OptionError{Option: "retry backoff", Value: c.backoffMin.String() + "-" + c.backoffMax.String(), Valid: "give 0 <= min <= max"}
	case c.groupID != "" && !validGroupID(c.groupID):
		return &OptionError{Option: "group id", Value: c.groupID, Valid: "use 1-200 characters of letters, digits and -/*:_+=.@ (Lambda's ConsumerGroupId)"}
	case c.onFailureTopic != "" && c.onFailureTopic == sourceTopic:
		return &OptionError{Option: "on-failure topic", Value: c.onFailureTopic, Valid: "must differ from the source topic: Lambda blocks a destination equal to the source, which would loop"}
	case c.eventSourceARN != "" && !looksLikeClusterARN(c.eventSourceARN):
		return &OptionError{Option: "event source ARN", Value: c.eventSourceARN, Valid: "give the MSK cluster ARN, arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID"}
	}
	return nil
}

func looksLikeClusterARN(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "kafka" && strings.HasPrefix(parts[5], "cluster/")
}

// retryLimit is the retries a record gets, -1 for infinite.
func (c *config) retryLimit() int {
	if c.maxRetries < 0 && c.onFailureTopic != "" {
		return RetriesWithOnFailure
	}
	return c.maxRetries
}
