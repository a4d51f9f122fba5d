package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReadmeAcrossMachines runs the commands of the README's "Across
// machines" section as a new user would, on one host: the weft in them is
// the binary under test and they run in an empty working directory;
// nothing else is added. When a port they name is taken on this machine,
// every port is moved to a free one, consistently. Three ingesters must
// then be ACTIVE in the ring, and samples pushed through the distributor
// must read back through the querier.
func TestReadmeAcrossMachines(t *testing.T) {
	cmds := readmeCommands(t, "## Across machines")
	if len(cmds) == 0 {
		t.Fatal("the README's Across machines section has no weft command")
	}
	cmds = portsFreeOrMoved(t, cmds)
	work := t.TempDir()
	var dist, querier string
	ingesters := 0
	for i, args := range cmds {
		name := fmt.Sprintf("%d-%s", i+1, flagValue(args, "target"))
		httpAddr := flagValue(args, "http.listen-address")
		if httpAddr == "" {
			t.Fatalf("command %d has no -http.listen-address; the test cannot reach it: weft %s", i+1, strings.Join(args, " "))
		}
		switch flagValue(args, "target") {
		case "distributor":
			dist = httpAddr
		case "querier":
			querier = httpAddr
		case "ingester":
			ingesters++
		}
		startReadmeCommand(t, work, name, args)
	}
	if dist == "" || querier == "" || ingesters != 3 {
		t.Fatalf("the README starts %d ingesters, distributor %q, querier %q; the test expects 3 ingesters, a distributor and a querier", ingesters, dist, querier)
	}
	for _, args := range cmds {
		waitReady(t, flagValue(args, "http.listen-address"))
	}

	ctx := testContext(t, 3*time.Minute)
	for _, addr := range []string{dist, querier} {
		eventually(t, time.Minute, 200*time.Millisecond, "3 ACTIVE ingesters in the ring seen from "+addr, func() error {
			body, err := httpGet(ctx, "http://"+addr+"/ring?format=json")
			if err != nil {
				return err
			}
			var s ringStatus
			if err := json.Unmarshal([]byte(body), &s); err != nil {
				return err
			}
			active := 0
			for _, in := range s.Instances {
				if in.State == "ACTIVE" && in.Healthy {
					active++
				}
			}
			if len(s.Instances) != 3 || active != 3 {
				return fmt.Errorf("ring: %s", s)
			}
			return nil
		})
	}

	n := numbered{metric: "readme_test", nSeries: 20, base: time.Now().Add(-time.Minute).Truncate(time.Second).UnixMilli(), step: 1000}
	pushRounds(ctx, t, newAPIClient("http://"+dist, "", ""), n, 0, 30)
	verifyAllRounds(ctx, t, newAPIClient("http://"+querier, "http://"+querier+"/prometheus/api/v1", ""), n, 30)
}

// readmeCommands returns the weft commands of the first sh code block
// under heading in README.md, each as its arguments after "weft". Comment
// lines are skipped and a trailing & is dropped; anything else a shell
// would have to interpret fails the test, which runs no shell.
func readmeCommands(t *testing.T, heading string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", heading)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf("the %q section of README.md has no sh code block", heading)
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds [][]string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(strings.TrimSuffix(line, "&"))
		if strings.ContainsAny(line, "'\"\\$;|&<>`") {
			t.Fatalf("README command needs a shell, which the test does not run: %s", line)
		}
		fields := strings.Fields(line)
		if fields[0] != "weft" {
			t.Fatalf("README command does not start with weft: %s", line)
		}
		cmds = append(cmds, fields[1:])
	}
	return cmds
}

// flagValue returns the value of -name=value in args, or "".
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
	}
	return ""
}

// portFlags are the flags of the README's commands that name ports:
// host:port lists, or (bind-port) a bare port.
var portFlags = []string{"http.listen-address", "grpc.listen-address", "memberlist.join", "memberlist.bind-port"}

// portsFreeOrMoved returns cmds unchanged when every port they name is
// free; else it maps each of their ports to a free one, in every command.
func portsFreeOrMoved(t *testing.T, cmds [][]string) [][]string {
	t.Helper()
	var ports []string
	seen := map[string]bool{}
	forEachPort(cmds, func(p string) string {
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
		return p
	})
	taken := ""
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			taken = p
			break
		}
		l.Close()
	}
	if taken == "" {
		return cmds
	}
	moved := map[string]string{}
	for _, p := range ports {
		_, free, _ := net.SplitHostPort(freeAddr(t))
		moved[p] = free
	}
	t.Logf("port %s is taken on this machine; running the README's commands with its ports moved: %v", taken, moved)
	return forEachPort(cmds, func(p string) string { return moved[p] })
}

// forEachPort returns a copy of cmds with each port of the port flags
// replaced by f(port).
func forEachPort(cmds [][]string, f func(string) string) [][]string {
	out := make([][]string, len(cmds))
	for i, args := range cmds {
		out[i] = append([]string(nil), args...)
		for j, a := range args {
			for _, name := range portFlags {
				v, ok := strings.CutPrefix(a, "-"+name+"=")
				if !ok {
					continue
				}
				if _, err := strconv.Atoi(v); err == nil {
					out[i][j] = "-" + name + "=" + f(v)
					continue
				}
				var addrs []string
				for _, hp := range strings.Split(v, ",") {
					if host, port, err := net.SplitHostPort(hp); err == nil {
						hp = net.JoinHostPort(host, f(port))
					}
					addrs = append(addrs, hp)
				}
				out[i][j] = "-" + name + "=" + strings.Join(addrs, ",")
			}
		}
	}
	return out
}

// startReadmeCommand starts weft with args in dir, as a shell in dir
// would, logging to a file that the test prints if it fails; the process
// is killed at the end of the test.
func startReadmeCommand(t *testing.T, dir, name string, args []string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== weft %s\n", strings.Join(args, " "))
	cmd := exec.Command(weftBinary, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("cannot start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		fmt.Fprintf(logf, "=== ended: %s\n", cmd.ProcessState)
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			dumpLog(t, name, logPath)
		}
	})
}

// waitReady waits until the weft at addr answers /ready with 200.
func waitReady(t *testing.T, addr string) {
	t.Helper()
	ctx := testContext(t, time.Minute)
	eventually(t, time.Minute, 100*time.Millisecond, addr+" ready", func() error {
		_, err := httpGet(ctx, "http://"+addr+"/ready")
		return err
	})
}
