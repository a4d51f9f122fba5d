package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestZZMockUI(t *testing.T) {
	ctx := testContext(t, 4*time.Minute)
	w := startWeft(t, weftOptions{Args: []string{"-auth.multitenancy-enabled=true"}})
	uiSeries(ctx, t, w.Client("team-a"))
	m := exec.CommandContext(ctx, "node", "/tmp/nbmock.mjs", w.URL())
	stdout, _ := m.StdoutPipe()
	m.Stderr = os.Stderr
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Process.Kill()
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	port := strings.TrimSpace(strings.TrimPrefix(line, "MOCK "))
	url := "http://127.0.0.1:" + port
	if script := os.Getenv("ZZ_SCRIPT"); script != "" {
		cmd := exec.CommandContext(ctx, "bash", script)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "WEFT_URL="+url)
		out, err := cmd.CombinedOutput()
		t.Logf("%s", out)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	cmd := exec.CommandContext(ctx, "node", filepath.Join("e2e", "e2e.mjs"))
	cmd.Dir = filepath.Join("..", "web", "ui")
	cmd.Env = append(os.Environ(), "WEFT_URL="+url, "WEFT_E2E_ARTIFACTS=/tmp/e2eart")
	out, err := cmd.CombinedOutput()
	t.Logf("e2e.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the browser test failed: %v", err)
	}
}
