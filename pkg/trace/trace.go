// Package trace prints the kernel calls a lesson makes, as they are made, in the
// spelling of their man pages, so a student can watch a container being built:
//
//	$ go run -exec sudo ./05-pid -v true
//	+ clone(CLONE_NEWNS|CLONE_NEWPID|SIGCHLD) = 4242
//	+ mount("", "/", NULL, MS_REC|MS_PRIVATE, NULL)
//	+ mount("proc", "/proc", "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC, NULL)
//	+ execve("/usr/bin/true", ["true"], envp)
//
// The calls are printed by the code that makes them (pkg/mount, pkg/reexec, ...),
// never by a separate description, so the trace cannot drift from what runs.
// Tracing is on when TINCAN_TRACE=1 is in the environment; the -v flag of every
// step sets it, and the variable is inherited by the re-executed child.
//
// TINCAN_TRACE=time also stamps each call with the milliseconds since the
// first process of the tree started tracing, on one clock for the parent and
// its re-executed child (CLOCK_MONOTONIC, the same in every process), so
// the gaps show where start-up time goes: a gap before a child's first line
// is the Go runtime starting again.
package trace

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Env is the environment variable that switches tracing on.
const Env = "TINCAN_TRACE"

// t0Env carries the tree's time origin (CLOCK_MONOTONIC, in ns) to children.
const t0Env = "TINCAN_TRACE_T0"

// on is read once: a container's child clears its environment for CMD, and
// must still trace the execve that follows.
var (
	on    = os.Getenv(Env) == "1" || os.Getenv(Env) == "time"
	stamp = os.Getenv(Env) == "time"
	t0    = origin()
)

// origin is the time origin inherited from the parent, or now.
func origin() int64 {
	if !stamp {
		return 0
	}
	if t, err := strconv.ParseInt(os.Getenv(t0Env), 10, 64); err == nil {
		return t
	}
	t := now()
	os.Setenv(t0Env, strconv.FormatInt(t, 10))
	return t
}

func now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// On reports whether tracing is switched on.
func On() bool { return on }

// Enable switches tracing on for this process and the children it starts.
func Enable() {
	if !on {
		on = true
		os.Setenv(Env, "1")
	}
}

// Call prints one kernel call, formatted like fmt.Printf, prefixed by "+ "
// (and, with TINCAN_TRACE=time, the time since the origin and the PID).
func Call(format string, args ...any) {
	if !On() {
		return
	}
	if stamp {
		format = fmt.Sprintf("%7.3fms [%d] ", float64(now()-t0)/1e6, os.Getpid()) + format
	}
	// write(2) on fd 2 itself, not through os.Stderr: a trace piped into a
	// reader that went away (can -v ... | head) must not end the program
	// half way, and Go kills one whose os.Stderr write fails with EPIPE
	// unless it catches SIGPIPE (os/signal), which costs a thread that a
	// child under a low pids limit may not have. The kernel's SIGPIPE
	// itself Go ignores, and a lost trace line is only a lost trace line.
	unix.Write(2, []byte(fmt.Sprintf("+ "+format+"\n", args...)))
}

// Flags spells a bit set the way man pages do: "MS_REC|MS_PRIVATE".
// names maps each bit to its name; bits without a name are printed in hex.
func Flags(v uintptr, names []Flag) string {
	if v == 0 {
		return "0"
	}
	var parts []string
	for _, n := range names {
		if v&n.Bit == n.Bit && n.Bit != 0 {
			parts = append(parts, n.Name)
			v &^= n.Bit
		}
	}
	if v != 0 {
		parts = append(parts, fmt.Sprintf("%#x", v))
	}
	return strings.Join(parts, "|")
}

// Flag names one bit (or a group of bits) of a flag word.
type Flag struct {
	Bit  uintptr
	Name string
}

// Argv spells an argument vector as strace does: ["ps", "-o", "pid"].
func Argv(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Str quotes a string argument like strace does, or prints NULL for "".
func Str(s string) string {
	if s == "" {
		return "NULL"
	}
	return fmt.Sprintf("%q", s)
}

// CloneFlags names clone(2)'s and unshare(2)'s namespace flags, and CLONE_FS.
var CloneFlags = []Flag{
	{Bit: unix.CLONE_FS, Name: "CLONE_FS"},
	{Bit: unix.CLONE_NEWCGROUP, Name: "CLONE_NEWCGROUP"},
	{Bit: unix.CLONE_NEWIPC, Name: "CLONE_NEWIPC"},
	{Bit: unix.CLONE_NEWNET, Name: "CLONE_NEWNET"},
	{Bit: unix.CLONE_NEWNS, Name: "CLONE_NEWNS"},
	{Bit: unix.CLONE_NEWPID, Name: "CLONE_NEWPID"},
	{Bit: unix.CLONE_NEWUSER, Name: "CLONE_NEWUSER"},
	{Bit: unix.CLONE_NEWUTS, Name: "CLONE_NEWUTS"},
}
