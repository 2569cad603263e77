package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"capbroker"
	"capbroker/internal/testbroker"
)

// The test binary is the holder too: run with CBHOLDER_MAIN=1 it is
// main(), so the tests need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("CBHOLDER_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type holder struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	errb  bytes.Buffer
	label string
}

func startHolder(t *testing.T, b *testbroker.Broker, args ...string) *holder {
	t.Helper()
	h := &holder{t: t, cmd: b.Command(os.Args[0], args...),
		label: strings.Join(args, " ")}
	h.cmd.Env = append(h.cmd.Env, "CBHOLDER_MAIN=1")
	h.cmd.Stderr = &h.errb
	var err error
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.out = bufio.NewReader(stdout)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return h
}

// expect reads the holder's next line, which must be want.
func (h *holder) expect(want string) {
	h.t.Helper()
	line, err := h.out.ReadString('\n')
	if err != nil || line != want+"\n" {
		h.t.Fatalf("holder %s: read %q, %v; want %q (stderr %q)",
			h.label, line, err, want, h.errb.String())
	}
}

func (h *holder) exit() int {
	h.t.Helper()
	_ = h.cmd.Wait()
	return h.cmd.ProcessState.ExitCode()
}

// The holder's protocol, exactly as the cross-language test drives it.
func TestHolderQueuesHoldsAndReleases(t *testing.T) {
	b := testbroker.Start(t)
	b.Ctl("pool", "set", "q", "--limit", "1")
	c, err := capbroker.Open(b.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := c.Pool("q")
	if err != nil {
		t.Fatal(err)
	}
	first, err := q.TryHold()
	if err != nil {
		t.Fatal(err)
	}
	low := startHolder(t, b, b.Name, "q", "0")
	low.expect("queued 0")
	high := startHolder(t, b, b.Name, "q", "5")
	high.expect("queued 0") // ahead of the lower priority
	if n := b.Waiting("q"); n != 2 {
		t.Fatalf("%d waiting, want 2", n)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	high.expect("held")
	if _, err := io.WriteString(high.in, "something else\nrelease\n"); err != nil {
		t.Fatal(err)
	}
	high.expect("released")
	if rc := high.exit(); rc != 0 {
		t.Fatalf("holder exited %d", rc)
	}
	low.expect("held")
	if i, _ := q.Info(); i.Held != 1 {
		t.Fatalf("held by the low holder: %+v", i)
	}
	low.in.Close() // EOF releases too
	low.expect("released")
	if rc := low.exit(); rc != 0 {
		t.Fatalf("holder exited %d at EOF", rc)
	}
	if i, _ := q.Info(); i.Held != 0 || b.Waiting("q") != 0 {
		t.Fatalf("after both: %+v", i)
	}
}

func TestHolderFailsWithTheLibrarysMessage(t *testing.T) {
	b := testbroker.Start(t)
	h := startHolder(t, b, b.Name, "nosuchpool", "0")
	if line, err := h.out.ReadString('\n'); err != io.EOF || line != "" {
		t.Fatalf("stdout %q, %v; want nothing", line, err)
	}
	if rc := h.exit(); rc != 1 {
		t.Fatalf("exit %d, want 1", rc)
	}
	e := h.errb.String()
	if !strings.HasPrefix(e, "error ") || !strings.Contains(e, "nosuchpool") ||
		strings.Contains(e, "capbroker: cb_pool") {
		t.Fatalf("stderr %q: want error and the library's message", e)
	}
}
