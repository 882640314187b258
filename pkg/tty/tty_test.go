package tty

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A new pty: what is written to the slave is read at the master.
func TestOpen(t *testing.T) {
	master, slave, err := Open("/dev/ptmx")
	require.NoError(t, err)
	defer master.Close()
	defer slave.Close()
	require.True(t, IsTerminal(slave.Fd()))
	_, err = slave.Write([]byte("hi\n"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	n, err := master.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hi\r\n", string(buf[:n]), "ONLCR: the line discipline is in between")
}

// MakeRaw turns off what makes signals and lines of keys, and restore
// gives back the mode exactly.
func TestMakeRaw(t *testing.T) {
	master, slave, err := Open("/dev/ptmx")
	require.NoError(t, err)
	defer master.Close()
	defer slave.Close()
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.NoError(t, err)
	restore, err := MakeRaw(slave.Fd())
	require.NoError(t, err)
	raw, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.Zero(t, raw.Lflag&(unix.ISIG|unix.ICANON|unix.ECHO))
	require.NoError(t, restore())
	after, _ := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	require.Equal(t, before, after)
}

// SendToSocket: the listener gets a working fd for the same master.
func TestSendToSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	defer l.Close()
	master, slave, err := Open("/dev/ptmx")
	require.NoError(t, err)
	defer slave.Close()
	go func() { SendToSocket(path, master); master.Close() }()
	c, err := l.AcceptUnix()
	require.NoError(t, err)
	defer c.Close()
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	require.NoError(t, err)
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	require.NoError(t, err)
	fds, err := unix.ParseUnixRights(&msgs[0])
	require.NoError(t, err)
	got := os.NewFile(uintptr(fds[0]), "received")
	defer got.Close()
	_, err = slave.Write([]byte("x"))
	require.NoError(t, err)
	n, err := got.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))
}
