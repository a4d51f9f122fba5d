// Command weft-load generates remote-write and query load against weft (or any
// Prometheus-compatible server) and reports how it answered.
//
//	weft-load write [flags]   push node-exporter-like series (remote write 1.0 or 2.0)
//	weft-load query [flags]   replay dashboard-like range queries
//	weft-load fairness [flags] one tenant floods queries, another's latency is measured
//	weft-load soak [flags]    pushes with ack accounting, then checks nothing acknowledged was lost
//
// It only parses flags; the work is in package loadgen (cmd/weft-load/loadgen).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-io/weft/cmd/weft-load/loadgen"
)

const usage = `usage: weft-load write|query|fairness|soak [flags]

  write     remote-writes N node-exporter-like series, one sample per series per round
  query     replays dashboard-like range queries against a Prometheus query API
  fairness  measures one tenant's query latency alone and while another floods queries
  soak      pushes numbered samples, remembers which pushes were acknowledged, reads
            everything back and counts acknowledged samples lost or duplicated

Run "weft-load MODE -h" for the flags of a mode.
Exit status: 0 if every request succeeded (or -allow-errors), 1 if some failed
(soak: if an acknowledged sample was lost, duplicated or could not be read back),
2 for usage errors.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	fs := flag.NewFlagSet("weft-load "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	jsonOut := fs.Bool("json", false, "print the final report as JSON on stdout")
	allowErrors := fs.Bool("allow-errors", false, "exit 0 even if some requests failed")

	switch args[0] {
	case "write":
		var cfg loadgen.WriteConfig
		cfg.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if isSet(fs, "rounds") && !isSet(fs, "duration") {
			cfg.Duration = 0
		}
		rep, err := loadgen.RunWrite(ctx, cfg, stderr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		printReport(stdout, &rep, *jsonOut)
		return exitCode(rep.RequestsFailed, *allowErrors)
	case "query":
		var cfg loadgen.QueryConfig
		cfg.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if isSet(fs, "queries") && !isSet(fs, "duration") {
			cfg.Duration = 0
		}
		rep, err := loadgen.RunQuery(ctx, cfg, stderr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		printReport(stdout, &rep, *jsonOut)
		return exitCode(rep.QueriesFailed, *allowErrors)
	case "fairness":
		var cfg loadgen.FairnessConfig
		cfg.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		rep, err := loadgen.RunFairness(ctx, cfg, stderr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		printReport(stdout, &rep, *jsonOut)
		return exitCode(rep.Alone.Failed+rep.Flooded.Failed, *allowErrors)
	case "soak":
		var cfg loadgen.SoakConfig
		cfg.RegisterFlags(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		rep, err := loadgen.RunSoak(ctx, cfg, stderr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		printReport(stdout, &rep, *jsonOut)
		// Failed pushes are expected while processes are killed: only the
		// accounting decides.
		if rep.Counts.Bad() {
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "unknown mode %q\n\n%s", args[0], usage)
		return 2
	}
}

// report is what every mode prints at the end.
type report interface {
	JSON() []byte
	WriteText(io.Writer)
}

func printReport(w io.Writer, rep report, asJSON bool) {
	if asJSON {
		_, _ = w.Write(rep.JSON())
		return
	}
	rep.WriteText(w)
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func exitCode(failed int64, allowErrors bool) int {
	if failed > 0 && !allowErrors {
		return 1
	}
	return 0
}
