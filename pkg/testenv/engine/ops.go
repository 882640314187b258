package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tincan.dev/pkg/tty"
)

// Run runs cmd in a new container of the image, removed when it ends, and
// returns what the client printed and its exit code (the container's, or the
// engine's own 125-127). It skips t when the engine cannot apply o.
func (e *Engine) Run(t testing.TB, o Opts, cmd ...string) Result {
	t.Helper()
	if why := e.Unsupported(o); why != "" {
		t.Skip(why)
	}
	args := e.runArgs(o, e.Name(), false)
	c := e.Command(append(args, cmd...)...)
	if o.TTY {
		return runOnPty(t, c)
	}
	return e.run(t, c, o.Stdin)
}

// Start runs cmd detached in a new container called name.
func (e *Engine) Start(t testing.TB, name string, o Opts, cmd ...string) {
	t.Helper()
	if why := e.Unsupported(o); why != "" {
		t.Skip(why)
	}
	e.Must(t, append(e.runArgs(o, name, true), cmd...)...)
}

// runArgs is `run` with o's flags, up to the image (ctr: the container ID
// after it), before the command.
func (e *Engine) runArgs(o Opts, name string, detach bool) []string {
	a := []string{"run"}
	if e.Kind == Ctr {
		if detach {
			a = append(a, "--detach", "--null-io")
		} else {
			a = append(a, "--rm")
		}
		a = append(a, "--runc-binary", e.Runtime.Wrapper,
			"--fifo-dir", e.dir+"/fifo", "--cgroup", e.CgroupParent+"/"+name)
		if o.TTY {
			a = append(a, "--tty")
		}
		for _, v := range o.Env {
			a = append(a, "--env", v)
		}
		if o.Workdir != "" {
			a = append(a, "--cwd", o.Workdir)
		}
		if o.ReadOnly {
			a = append(a, "--read-only")
		}
		for _, c := range o.CapAdd {
			a = append(a, "--cap-add", "CAP_"+c)
		}
		for _, c := range o.CapDrop {
			a = append(a, "--cap-drop", "CAP_"+c)
		}
		if o.Memory != 0 {
			a = append(a, "--memory-limit", strconv.FormatInt(o.Memory, 10))
		}
		return append(a, ImageRef, name)
	}
	if detach {
		a = append(a, "--detach")
	} else {
		a = append(a, "--rm")
	}
	a = append(a, "--name", name, "--network", "none")
	switch e.Kind {
	case Podman:
		a = append(a, "--cgroup-parent", e.CgroupParent)
	case Docker:
		a = append(a, "--runtime", "tincan-test")
	}
	if o.Stdin != "" {
		a = append(a, "--interactive")
	}
	if o.TTY {
		a = append(a, "--tty")
	}
	for _, v := range o.Env {
		a = append(a, "--env", v)
	}
	if o.User != "" {
		a = append(a, "--user", o.User)
	}
	if o.Workdir != "" {
		a = append(a, "--workdir", o.Workdir)
	}
	if o.ReadOnly {
		a = append(a, "--read-only")
	}
	for _, c := range o.CapAdd {
		a = append(a, "--cap-add", c)
	}
	for _, c := range o.CapDrop {
		a = append(a, "--cap-drop", c)
	}
	if o.Memory != 0 {
		a = append(a, "--memory", strconv.FormatInt(o.Memory, 10))
	}
	if o.PidsLimit != 0 {
		a = append(a, "--pids-limit", strconv.Itoa(o.PidsLimit))
	}
	return append(a, ImageRef)
}

// runOnPty runs c with a new pseudo-terminal as its stdin, stdout, stderr
// and controlling terminal, as at a shell: ctr run -t refuses to start
// otherwise ("provided file is not a console"). What the terminal shows is
// Stdout, with its \r\n.
func runOnPty(t testing.TB, c *exec.Cmd) Result {
	t.Helper()
	master, slave, err := tty.Open("/dev/ptmx")
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	defer master.Close()
	c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := c.Start(); err != nil {
		slave.Close()
		t.Fatalf("run %v: %v", c.Args, err)
	}
	slave.Close()
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&out, master); close(done) }() // ends with EIO when the last slave fd closes
	err = c.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", c.Args, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second): // a process left holding the terminal
	}
	return Result{Args: c.Args, Stdout: out.String(), Code: c.ProcessState.ExitCode()}
}

// Exec runs cmd in the running container name.
func (e *Engine) Exec(t testing.TB, name string, cmd ...string) Result {
	t.Helper()
	if e.Kind == Ctr {
		return e.Do(t, append([]string{"tasks", "exec", "--exec-id", e.Name(), "--fifo-dir", e.dir + "/fifo", name}, cmd...)...)
	}
	return e.Do(t, append([]string{"exec", name}, cmd...)...)
}

// ExecTTY runs cmd in the running container name on a new terminal
// (exec -t), the client itself on one too, as Run does for TTY.
func (e *Engine) ExecTTY(t testing.TB, name string, cmd ...string) Result {
	t.Helper()
	if e.Kind == Ctr {
		return runOnPty(t, e.Command(append([]string{"tasks", "exec", "--tty", "--exec-id", e.Name(), "--fifo-dir", e.dir + "/fifo", name}, cmd...)...))
	}
	return runOnPty(t, e.Command(append([]string{"exec", "--tty", name}, cmd...)...))
}

// Kill sends signal (a name: KILL, TERM) to container name and waits up to
// 20s for it to exit.
func (e *Engine) Kill(t testing.TB, name, signal string) Result {
	t.Helper()
	var r Result
	if e.Kind == Ctr {
		r = e.Do(t, "tasks", "kill", "--signal", "SIG"+signal, name)
	} else {
		r = e.Do(t, "kill", "--signal", signal, name)
	}
	return e.waitExited(t, name, r)
}

// waitExited polls name's status until it is "exited", when r (the signal's
// sending) succeeded.
func (e *Engine) waitExited(t testing.TB, name string, r Result) Result {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); r.Code == 0 && e.Status(t, name) != "exited"; {
		if time.Now().After(deadline) {
			r.Code, r.Stderr = -1, fmt.Sprintf("%s: still %s 20s after the signal", name, e.Status(t, name))
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// Top lists the processes of container name (ctr tasks ps asks the runtime:
// runc ps; podman top reads /proc itself).
func (e *Engine) Top(t testing.TB, name string) Result {
	t.Helper()
	if e.Kind == Ctr {
		return e.Do(t, "tasks", "ps", name)
	}
	return e.Do(t, "top", name)
}

// Pause freezes container name; Unpause thaws it.
func (e *Engine) Pause(t testing.TB, name string) Result {
	t.Helper()
	if e.Kind == Ctr {
		return e.Do(t, "tasks", "pause", name)
	}
	return e.Do(t, "pause", name)
}

func (e *Engine) Unpause(t testing.TB, name string) Result {
	t.Helper()
	if e.Kind == Ctr {
		return e.Do(t, "tasks", "resume", name)
	}
	return e.Do(t, "unpause", name)
}

// ctrTask returns the PID and status columns of `ctr tasks ls` for name.
func (e *Engine) ctrTask(t testing.TB, name string) (pid int, status string) {
	for _, line := range strings.Split(e.Must(t, "tasks", "list").Stdout, "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == name {
			pid, _ = strconv.Atoi(f[1])
			return pid, strings.ToLower(f[2])
		}
	}
	return 0, ""
}

// PID is the container's first process, as the host sees it.
func (e *Engine) PID(t testing.TB, name string) int {
	t.Helper()
	if e.Kind == Ctr {
		pid, _ := e.ctrTask(t, name)
		return pid
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(e.Must(t, "inspect", "--format", "{{.State.Pid}}", name).Stdout))
	return pid
}

// Status is "running", "paused" or "exited" (ctr says "stopped"; "created"
// and "" too).
func (e *Engine) Status(t testing.TB, name string) string {
	t.Helper()
	if e.Kind == Ctr {
		_, s := e.ctrTask(t, name)
		if s == "stopped" {
			s = "exited"
		}
		return s
	}
	return strings.TrimSpace(e.Must(t, "inspect", "--format", "{{.State.Status}}", name).Stdout)
}

// Stop sends SIGTERM to the container and waits for it to exit (docker and
// podman send SIGKILL after 10s; ctr tasks kill does not wait, so Stop polls
// for up to 20s).
func (e *Engine) Stop(t testing.TB, name string) Result {
	t.Helper()
	if e.Kind != Ctr {
		return e.Do(t, "stop", name)
	}
	return e.waitExited(t, name, e.Do(t, "tasks", "kill", "--signal", "SIGTERM", name))
}

// ExitCode is the exit status of the stopped container name; -1 for ctr,
// whose tasks ls does not show it.
func (e *Engine) ExitCode(t testing.TB, name string) int {
	t.Helper()
	if e.Kind == Ctr {
		return -1
	}
	code, _ := strconv.Atoi(strings.TrimSpace(e.Must(t, "inspect", "--format", "{{.State.ExitCode}}", name).Stdout))
	return code
}

// Remove deletes the stopped container name.
func (e *Engine) Remove(t testing.TB, name string) Result {
	t.Helper()
	if e.Kind == Ctr {
		if r := e.Do(t, "tasks", "delete", name); r.Code != 0 {
			return r
		}
		return e.Do(t, "containers", "delete", name)
	}
	return e.Do(t, "rm", name)
}

// ForceRemove kills and deletes container name, whatever its state.
func (e *Engine) ForceRemove(t testing.TB, name string) Result {
	t.Helper()
	switch e.Kind {
	case Podman: // its rm --force waits for stop's 10s first
		return e.Do(t, "rm", "--force", "--time", "0", name)
	case Docker:
		return e.Do(t, "rm", "--force", name)
	}
	e.Do(t, "tasks", "delete", "--force", name)
	return e.Do(t, "containers", "delete", name)
}
