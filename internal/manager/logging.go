package manager

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// zapOptions returns base (controller-runtime's zap options, as its --zap-*
// flags set them) with what --log-format and --log-level say applied where
// base leaves it unset, through controller-runtime's own parsers of
// --zap-encoder and --zap-log-level; and gatestream's defaults: ISO 8601
// times, the caller, stack traces only from panics (outside --zap-devel).
func zapOptions(base crzap.Options, format, level string) (crzap.Options, error) {
	zo := base
	zo.ZapOpts = append(slices.Clip(base.ZapOpts), zap.AddCaller())
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	zo.BindFlags(fs)
	var errs []error
	if zo.NewEncoder == nil && zo.Encoder == nil {
		if err := fs.Set("zap-encoder", format); err != nil {
			errs = append(errs, fmt.Errorf("--log-format must be json or console, got %q", format))
		}
	}
	if zo.Level == nil && level != "" {
		if err := fs.Set("zap-log-level", level); err != nil {
			errs = append(errs, fmt.Errorf("--log-level must be debug, info or error (or a verbosity 1, 2, …), got %q", level))
		}
	}
	if zo.TimeEncoder == nil {
		zo.TimeEncoder = zapcore.ISO8601TimeEncoder
	}
	if zo.StacktraceLevel == nil && !zo.Development {
		zo.StacktraceLevel = zap.NewAtomicLevelAt(zapcore.PanicLevel)
	}
	return zo, errors.Join(errs...)
}

// newLogger builds zo's logger, writing to out. Its lines are never sampled:
// controller-runtime's production mode drops repeats of a message beyond 100 a
// second, but every line counts here (each connect of the portal is audited
// by one). It installs its sampler only when the level it is built with hides
// V(2), so the logger is built at V(2) on an AtomicLevel that then takes the
// chosen level.
func newLogger(zo crzap.Options, out io.Writer) logr.Logger {
	want := zapcore.InfoLevel
	switch {
	case zo.Level != nil:
		want = zapcore.LevelOf(zo.Level)
	case zo.Development:
		want = zapcore.DebugLevel
	}
	level := zap.NewAtomicLevelAt(min(want, zapcore.Level(-2)))
	zo.Level, zo.DestWriter = level, out
	log := crzap.New(crzap.UseFlagOptions(&zo))
	level.SetLevel(want)
	return log
}

// Logger returns the manager's logger, writing to out: JSON lines by default
// (for log pipelines), human-readable with --log-format=console; the --zap-*
// flags, where given, take precedence.
func (o *Options) Logger(out io.Writer) (logr.Logger, error) {
	zo, err := zapOptions(o.Zap, o.LogFormat, o.LogLevel)
	if err != nil {
		return logr.Discard(), err
	}
	return newLogger(zo, out), nil
}

// NewLogger returns a logr.Logger backed by zap (controller-runtime's zap
// options) with format json or console and level debug, info or error.
func NewLogger(format, level string, out io.Writer) (logr.Logger, error) {
	o := Options{LogFormat: format, LogLevel: level}
	return o.Logger(out)
}
