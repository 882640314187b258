package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
	"tincan.dev/pkg/tty"
)

// terminal is a pty standing for the user's terminal: can runs on its
// slave, as a shell's child would, with it as the controlling terminal of
// can's session; the test types at the master and reads what can shows.
type terminal struct {
	master, slave *os.File
	mu            sync.Mutex
	out           bytes.Buffer
}

func newTerminal(t *testing.T) *terminal {
	t.Helper()
	master, slave, err := tty.Open("/dev/ptmx")
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}))
	term := &terminal{master: master, slave: slave}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { slave.Close(); master.Close() })
	return term
}

// command runs can on the terminal, in a session of its own whose
// controlling terminal it is (setsid, TIOCSCTTY: what a login shell has).
func (term *terminal) command(args ...string) *exec.Cmd {
	cmd := exec.Command(canBin(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 1}
	return cmd
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor polls the output until it contains s, with a deadline.
func (term *terminal) waitFor(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(term.output(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal; it shows %q", s, term.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// bubblewrap's CVE-2017-5226: a process sharing the user's terminal pushes
// "echo INJECTED" into its input with ioctl(TIOCSTI); the user's shell would
// run it after the container. With a pty of its own (stdin a terminal) the
// container types into its own terminal; in a session of its own (stdin not
// a terminal) the kernel refuses TIOCSTI on a terminal that is not its
// controlling one. Either way nothing waits in the user's terminal's input.
func TestTerminalTIOCSTI(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	for _, stdinTTY := range []bool{true, false} {
		term := newTerminal(t)
		before, err := unix.IoctlGetTermios(int(term.slave.Fd()), unix.TCGETS)
		require.NoError(t, err)
		cmd := term.command("--chroot", root, "--", "/probe", "tiocsti")
		if !stdinTTY {
			cmd.Stdin = nil // /dev/null
		}
		require.NoError(t, cmd.Run(), term.output())
		term.waitFor(t, "fd2 ")
		queued, err := unix.IoctlGetInt(int(term.slave.Fd()), unix.TIOCINQ)
		require.NoError(t, err)
		require.Zero(t, queued, "stdin a terminal: %v: the container typed into the user's terminal: %q", stdinTTY, term.output())
		after, err := unix.IoctlGetTermios(int(term.slave.Fd()), unix.TCGETS)
		require.NoError(t, err)
		require.Equal(t, before, after, "can left the user's terminal in another mode")
	}
}

// On a terminal, CMD has a terminal of its own, from the container's devpts,
// of the user's terminal's size, and leads a session of its own.
func TestTerminalOwnPty(t *testing.T) {
	testenv.NeedRoot(t)
	term := newTerminal(t)
	cmd := term.command("--chroot", rootWithProbe(t), "--", "sh", "-c", "tty; stty size; cat /proc/self/stat")
	require.NoError(t, cmd.Run(), term.output())
	term.waitFor(t, ") R ")
	require.Regexp(t, regexp.MustCompile(`(?m)^/dev/pts/\d+\r$`), term.output())
	require.Contains(t, term.output(), "\n24 80\r\n", "the window size did not follow")
	require.Equal(t, "1", session(t, term.output()), "cat is not in the session of the container's PID 1")
}

// ^C is a byte for the container's terminal, which makes one SIGINT of it;
// can, in raw mode, neither gets a SIGINT of its own nor passes one on.
func TestTerminalCtrlCOnce(t *testing.T) {
	testenv.NeedRoot(t)
	for _, init := range []bool{false, true} {
		term := newTerminal(t)
		args := []string{"--chroot", rootWithProbe(t), "--", "sh", "-c",
			`trap "echo INT" INT; echo READY; while :; do read x; [ "$x" = end ] && break; done; echo END`}
		if init {
			args = append([]string{"--init"}, args...)
		}
		cmd := term.command(args...)
		require.NoError(t, cmd.Start())
		term.waitFor(t, "READY")
		term.master.Write([]byte{3}) // ^C
		term.waitFor(t, "INT")
		term.master.Write([]byte("end\r"))
		require.NoError(t, cmd.Wait(), term.output())
		term.waitFor(t, "END")
		require.Equal(t, 1, strings.Count(term.output(), "INT\r\n"), "--init %v: %q", init, term.output())
	}
}

// Without a terminal, CMD still leads a session of its own: it shares no
// session, and no controlling terminal, with the caller.
func TestSetsid(t *testing.T) {
	testenv.NeedRoot(t)
	root := rootWithProbe(t)
	r := can(t, "--chroot", root, "--", "cat", "/proc/self/stat")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "1", session(t, r.Stdout), "CMD is in its caller's session (0 = a session outside the container)")
	r = can(t, "--init", "--chroot", root, "--", "cat", "/proc/self/stat")
	require.Equal(t, 0, r.Code, r.Stderr)
	pid, _, _ := strings.Cut(r.Stdout, " ")
	require.NotEqual(t, "1", pid)
	require.Equal(t, pid, session(t, r.Stdout), "with --init, CMD does not lead a session of its own")
}

// session is field 6 of a /proc/PID/stat line (proc(5)), counted after the
// command name in parentheses, which may hold spaces.
func session(t *testing.T, stat string) string {
	t.Helper()
	i := strings.LastIndex(stat, ") ")
	require.NotEqual(t, -1, i, "no stat line in %q", stat)
	f := strings.Fields(stat[i+2:])
	require.Greater(t, len(f), 3, stat)
	return f[3]
}

// A resized user's terminal resizes the container's (can relays SIGWINCH).
func TestTerminalResize(t *testing.T) {
	testenv.NeedRoot(t)
	term := newTerminal(t)
	cmd := term.command("--chroot", rootWithProbe(t), "--", "sh", "-c", `trap "stty size" WINCH; echo READY; read x; read x`)
	require.NoError(t, cmd.Start())
	term.waitFor(t, "READY")
	require.NoError(t, unix.IoctlSetWinsize(int(term.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}))
	term.waitFor(t, "30 100")
	term.master.Write([]byte("\r\r"))
	require.NoError(t, cmd.Wait(), term.output())
}

// Without a pty (stdin not a terminal), ^C on the user's terminal makes a
// SIGINT for can's process group only: CMD, in a session of its own, gets
// the one can passes on, not a second one from the terminal.
func TestCtrlCOnceWithoutPty(t *testing.T) {
	testenv.NeedRoot(t)
	term := newTerminal(t)
	cmd := term.command("--chroot", rootWithProbe(t), "--", "sh", "-c",
		// The trap ends the sleep, so that wait returns whether the ^C
		// comes while it waits or a moment before.
		`trap 'echo INT; kill $!' INT; sleep 1000 & echo READY; wait; read x; echo END`)
	cmd.Stdin = nil
	stdin, err := cmd.StdinPipe() // not a terminal
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	term.waitFor(t, "READY")
	term.master.Write([]byte{3}) // ^C: the terminal signals can's process group
	term.waitFor(t, "INT")
	stdin.Write([]byte("end\n"))
	require.NoError(t, cmd.Wait(), term.output())
	term.waitFor(t, "END")
	require.Equal(t, 1, strings.Count(term.output(), "INT\r\n"), "%q", term.output())
}
