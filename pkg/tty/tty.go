// Package tty gives a container a terminal of its own: a pseudo-terminal
// (pty(7)) whose master end the runtime holds and relays to the user's
// terminal, as runc's terminal mode and docker run -t do.
//
// Why not simply hand the container the user's terminal? A terminal belongs
// to a session (credentials(7), "Sessions and process groups"), and a process
// in that session may push bytes into the terminal's input with
// ioctl(TIOCSTI): root in the container would type commands into the user's
// shell, which runs them once the container exits (bubblewrap's
// CVE-2017-5226). So CMD starts in a session of its own (setsid(2)) and gets
// a fresh pty: whatever it injects lands in its own input.
//
//	user's terminal  <-- can relays bytes -->  master | slave = CMD's 0, 1, 2
//	(raw mode: ^C is a byte)                   (the container's own line
//	                                            discipline turns 0x03 into
//	                                            SIGINT for CMD's foreground)
//
// The user's terminal is put in raw mode while the container runs, so keys
// reach the container untouched and signals are made by the container's
// terminal, once, for the container's foreground process group. It is
// restored on the way out. The window size follows the user's (SIGWINCH).
//
// A pty is opened from /dev/ptmx, which hands out a new master and creates
// its slave /dev/pts/N, locked until unlockpt(3) (ioctl TIOCSPTLCK). The
// slave is opened from the master with TIOCGPTPEER (Linux 4.13), which needs
// no path: the right devpts instance is implied (ioctl_tty(2), pts(4)).
package tty

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/trace"
)

// Open makes a new pseudo-terminal from ptmx (usually "/dev/ptmx"; in a
// container the root's /dev/ptmx, which leads to its own devpts). Neither end
// becomes anyone's controlling terminal (O_NOCTTY); both are close-on-exec.
func Open(ptmx string) (master, slave *os.File, err error) {
	trace.Call("open(%q, O_RDWR|O_NOCTTY|O_CLOEXEC)", ptmx)
	m, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w (is a devpts mounted?)", ptmx, err)
	}
	master = os.NewFile(uintptr(m), ptmx)
	trace.Call("ioctl(%d, TIOCSPTLCK, 0)", m)
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock pty: ioctl(TIOCSPTLCK): %w", err)
	}
	trace.Call("ioctl(%d, TIOCGPTPEER, O_RDWR|O_NOCTTY|O_CLOEXEC)", m)
	s, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(m), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno == 0 {
		return master, os.NewFile(s, "pty"), nil
	}
	// Before Linux 4.13: open the slave by its name, /dev/pts/N.
	n, err := unix.IoctlGetUint32(m, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: ioctl(TIOCGPTN): %w", err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	slave, err = os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// CopySize gives terminal dst the window size of terminal src; the kernel
// then sends SIGWINCH to dst's foreground process group.
func CopySize(dst, src uintptr) error {
	ws, err := unix.IoctlGetWinsize(int(src), unix.TIOCGWINSZ)
	if err != nil {
		return err
	}
	return unix.IoctlSetWinsize(int(dst), unix.TIOCSWINSZ, ws)
}

// MakeRaw puts terminal fd in raw mode, cfmakeraw(3)'s: no echo, no line
// editing, no signals from keys (ISIG off: ^C is the byte 0x03), no output
// processing. It returns the function that restores the previous mode.
func MakeRaw(fd uintptr) (restore func() error, err error) {
	old, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(fd), unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() error { return unix.IoctlSetTermios(int(fd), unix.TCSETS, old) }, nil
}

// Relay joins the user's terminal (in, out) to a container's pty master
// until Close: keys go in, output comes out, the window size follows.
type Relay struct {
	master  *os.File
	restore func() error
	winch   chan os.Signal
	output  sync.WaitGroup
}

// Start puts in, a terminal, in raw mode and relays between it and master.
func Start(master, in, out *os.File) (*Relay, error) {
	r := &Relay{master: master, winch: make(chan os.Signal, 1)}
	restore, err := MakeRaw(in.Fd())
	if err != nil {
		return nil, fmt.Errorf("raw mode for %s: %w", in.Name(), err)
	}
	r.restore = restore
	CopySize(master.Fd(), in.Fd())
	signal.Notify(r.winch, unix.SIGWINCH)
	go func() {
		for range r.winch {
			CopySize(master.Fd(), in.Fd())
		}
	}()
	go io.Copy(master, in) // ends with the process: a read of in cannot be cancelled
	r.output.Add(1)
	go func() {
		defer r.output.Done()
		_, err := io.Copy(out, master)
		// EIO is a master's end of file: no slave is open any more.
		if err != nil && !errors.Is(err, unix.EIO) {
			fmt.Fprintf(os.Stderr, "terminal: %v\n", err)
		}
	}()
	return r, nil
}

// Close waits until the container's last output is out (every holder of the
// slave has exited), then gives the user's terminal back its mode.
func (r *Relay) Close() error {
	r.output.Wait()
	signal.Stop(r.winch)
	close(r.winch)
	r.master.Close()
	return r.restore()
}

// SendToSocket passes master to whoever listens on the unix socket at path,
// as SCM_RIGHTS (unix(7)): the OCI runtime's --console-socket, by which
// containerd or podman receive the container's terminal.
func SendToSocket(path string, master *os.File) error {
	c, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("--console-socket %s: %w", path, err)
	}
	defer c.Close()
	trace.Call("sendmsg(connect(%q), {SCM_RIGHTS, [%d]})", path, master.Fd())
	_, _, err = c.(*net.UnixConn).WriteMsgUnix([]byte(master.Name()), unix.UnixRights(int(master.Fd())), nil)
	if err != nil {
		return fmt.Errorf("--console-socket %s: send the terminal: %w", path, err)
	}
	return nil
}
