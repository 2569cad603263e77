// Package testbroker starts a real broker for the Go binding's tests:
// capbrokerd of the build directory named by CAPBROKER_BIN (make
// go-check sets it), with a unique instance name and a private
// CAPBROKER_RUNDIR.  t.Cleanup kills it, and whatever a test started
// with Command, and removes its segments from /dev/shm (as
// tests/python/conftest.py and tests/integration/lib.sh do).
package testbroker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var count uint32

// Broker is one running capbrokerd.
type Broker struct {
	Name   string   // its unique instance name
	Bin    string   // the build directory
	Env    []string // the environment with its CAPBROKER_RUNDIR
	t      testing.TB
	rundir string
	proc   *exec.Cmd
	exited chan struct{}
}

// Bin is CAPBROKER_BIN; the test fails if it is not set.
func Bin(t testing.TB) string {
	bin := os.Getenv("CAPBROKER_BIN")
	if bin == "" {
		t.Fatal("CAPBROKER_BIN must name the build directory " +
			"(capbrokerd, capctl, capdump): run make go-check")
	}
	return bin
}

// Start starts a broker and returns once capctl ping answers.
func Start(t testing.TB) *Broker {
	t.Helper()
	bin := Bin(t)
	// Not t.TempDir(): the control socket's path must stay short.
	rundir, err := os.MkdirTemp("", "cbgo.")
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{
		Name: fmt.Sprintf("go%d-%d", os.Getpid(),
			atomic.AddUint32(&count, 1)),
		Bin:    bin,
		Env:    append(os.Environ(), "CAPBROKER_RUNDIR="+rundir),
		t:      t,
		rundir: rundir,
	}
	t.Cleanup(b.cleanup)
	log, err := os.Create(filepath.Join(rundir, "broker.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	b.proc = exec.Command(filepath.Join(bin, "capbrokerd"), "-n", b.Name)
	b.proc.Env = b.Env
	b.proc.Stdout, b.proc.Stderr = log, log
	if err := b.proc.Start(); err != nil {
		t.Fatal(err)
	}
	b.exited = make(chan struct{})
	go func() { _ = b.proc.Wait(); close(b.exited) }()
	for i := 0; b.command("capctl", "ping").Run() != nil; i++ {
		select {
		case <-b.exited:
			t.Fatalf("broker exited at start:\n%s", b.logText())
		default:
		}
		if i == 200 {
			t.Fatalf("broker did not come up:\n%s", b.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return b
}

func (b *Broker) logText() string {
	data, _ := os.ReadFile(filepath.Join(b.rundir, "broker.log"))
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// command is tool -n NAME args, a tool of the build directory.
func (b *Broker) command(tool string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(b.Bin, tool),
		append([]string{"-n", b.Name}, args...)...)
	cmd.Env = b.Env
	return cmd
}

// Command is path args in the broker's environment, killed at the end
// of the test if it is still running.
func (b *Broker) Command(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = b.Env
	b.t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// Ctl runs capctl -n NAME args and fails the test if it fails.
func (b *Broker) Ctl(args ...string) string {
	b.t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := b.command("capctl", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("capctl %s: %v: %s", strings.Join(args, " "), err,
			stderr.String())
	}
	return stdout.String()
}

// Waiting is the length of pool's queue as capdump --json shows it.
func (b *Broker) Waiting(pool string) int {
	b.t.Helper()
	return b.dumpPool(pool).Waiting
}

// Rejected is pool's count of refusals as capdump --json shows it.
func (b *Broker) Rejected(pool string) uint64 {
	b.t.Helper()
	return b.dumpPool(pool).Rejected
}

type dumpedPool struct {
	Name     string `json:"name"`
	Waiting  int    `json:"waiting"`
	Rejected uint64 `json:"rejected"`
}

func (b *Broker) dumpPool(pool string) dumpedPool {
	b.t.Helper()
	out, err := b.command("capdump", "--json").Output()
	if err != nil {
		b.t.Fatalf("capdump: %v", err)
	}
	var dump struct {
		Pools []dumpedPool `json:"pools"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		b.t.Fatalf("capdump --json: %v\n%s", err, out)
	}
	for _, p := range dump.Pools {
		if p.Name == pool {
			return p
		}
	}
	b.t.Fatalf("capdump: no pool %s", pool)
	return dumpedPool{}
}

// Eventually polls cond until it holds: the order of events is forced
// by what cond observes, never by a sleep's length (the bound only
// turns a hang into a failure).
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 2000 {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *Broker) cleanup() {
	if b.exited != nil {
		_ = b.proc.Process.Signal(syscall.SIGKILL)
		<-b.exited
	}
	// The segments, their spare links and a link on its way
	// (broker/segments.h, "Names").
	for _, seg := range []string{"state", "slots"} {
		for _, f := range []string{"capbroker.%s.%s",
			".capbroker.%s.%s", ".capbroker.%s.%s.new"} {
			_ = os.Remove("/dev/shm/" + fmt.Sprintf(f, b.Name, seg))
		}
	}
	_ = os.RemoveAll(b.rundir)
}
