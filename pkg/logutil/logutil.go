package logutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	gokit "github.com/go-kit/log"
)

// New returns a slog logger writing to w in format "logfmt" or "json" at
// level ("debug", "info", "warn", "error").
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("cannot parse log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "logfmt", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q: use logfmt or json", format)
}

// Nop returns a logger that drops everything; components take nil to mean it.
func Nop() *slog.Logger { return slog.New(slog.DiscardHandler) }

// OrNop returns l, or a discarding logger when l is nil.
func OrNop(l *slog.Logger) *slog.Logger {
	if l == nil {
		return Nop()
	}
	return l
}

// GoKit adapts l to go-kit's Logger; a "level" key picks the slog level.
func GoKit(l *slog.Logger) gokit.Logger { return gokitAdapter{l: OrNop(l)} }

type gokitAdapter struct{ l *slog.Logger }

func (a gokitAdapter) Log(keyvals ...any) error {
	lvl := slog.LevelInfo
	msg := ""
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i+1 < len(keyvals); i += 2 {
		k := fmt.Sprint(keyvals[i])
		switch k {
		case "level":
			switch strings.ToLower(fmt.Sprint(keyvals[i+1])) {
			case "debug":
				lvl = slog.LevelDebug
			case "warn":
				lvl = slog.LevelWarn
			case "error":
				lvl = slog.LevelError
			}
		case "msg":
			msg = fmt.Sprint(keyvals[i+1])
		default:
			attrs = append(attrs, k, keyvals[i+1])
		}
	}
	a.l.Log(context.Background(), lvl, msg, attrs...)
	return nil
}
