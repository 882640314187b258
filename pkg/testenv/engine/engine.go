// Package engine drives real container engines (podman, containerd's ctr,
// Docker) against an OCI runtime, the way a user's machine would: the engine
// writes a bundle's config.json and calls the runtime's command line (create,
// start, state, kill, delete, exec, ps, pause, resume), and the test checks
// what the container saw. 09-full points it at bin/can; its own test points
// it at runc, to prove the harness.
//
// Each engine runs privately, everything under one tincan-test-engine-*
// directory: podman with its own --root and --runroot, containerd and
// dockerd as child processes with their own config, state, sockets and
// pidfiles, and every container's cgroup below an absolute /tincan-test-*
// parent. Never a relative one: a runtime nests a relative cgroupsPath under
// the caller's own cgroup, which here belongs to the machine's supervisor.
// Cleanup (t.Cleanup, on failure too) removes the containers, stops the
// daemons by the PIDs it started, unmounts what the engines mounted below the
// directory, removes the cgroups and the directory.
//
// It needs root and testenv's sandbox (a private /run, where runc, the
// containerd shims and dockerd keep state at fixed paths), so a test package
// that uses it has TestMain call testenv.Main. 09-full drives bin/can so:
//
//	func TestEngines(t *testing.T) {
//		if os.Getenv("TINCAN_ENGINES") == "" {
//			t.Skip("drives podman, containerd and docker: TINCAN_ENGINES=1 make test STEP=09-full")
//		}
//		engine.Test(t, filepath.Join(testenv.Bin, "can"))
//	}
//
// Test logs each engine's time and, under -v, every call it made to the
// runtime (Runtime.Calls): what a runtime must answer, exactly as asked.
package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

// Kind names an engine.
type Kind string

const (
	Podman Kind = "podman"
	Ctr    Kind = "ctr" // containerd, driven by its ctr client
	Docker Kind = "docker"
)

// Engine is one engine, started privately, and the runtime it uses.
type Engine struct {
	Kind    Kind
	Runtime *Runtime
	// CgroupParent is the absolute cgroup every container of this engine
	// is created below: /tincan-test-<dir suffix>-<kind>.
	CgroupParent string

	dir  string
	base []string // the client's command line up to the subcommand
	env  []string
	n    int // names handed out
}

// Opts are the `run` flags the tests use, spelt once for every engine.
type Opts struct {
	Env       []string // KEY=value
	User      string   // uid:gid
	Workdir   string
	ReadOnly  bool
	CapAdd    []string // without CAP_
	CapDrop   []string
	Stdin     string // piped to the container (run -i)
	TTY       bool   // run -t, the client itself on a pseudo-terminal
	Memory    int64  // bytes
	PidsLimit int
}

// Unsupported returns why e cannot apply o, or "" (ctr has no --user nor a
// pids limit).
func (e *Engine) Unsupported(o Opts) string {
	if e.Kind == Ctr && o.User != "" {
		return "ctr run has no --user flag (containerd 1.6)"
	}
	if e.Kind == Ctr && o.PidsLimit != 0 {
		return "ctr run has no pids limit flag (containerd 1.6)"
	}
	return ""
}

// Command is the engine's client with args.
func (e *Engine) Command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.base[0], append(e.base[1:len(e.base):len(e.base)], args...)...)
	cmd.Env = append(os.Environ(), tmpdirEnv(e.dir))
	cmd.Env = append(cmd.Env, e.env...)
	return cmd
}

// Name returns a new container name, tincan-test-N.
func (e *Engine) Name() string {
	e.n++
	return fmt.Sprintf("tincan-test-%d", e.n)
}

// Result is what a client printed and how it ended.
type Result = testenv.Result

// Do runs the client with args and returns what it printed; it fails t only
// when the client could not be started.
func (e *Engine) Do(t testing.TB, args ...string) Result {
	t.Helper()
	return e.run(t, e.Command(args...), "")
}

// Must is Do, failing t unless the client exits 0.
func (e *Engine) Must(t testing.TB, args ...string) Result {
	t.Helper()
	r := e.Do(t, args...)
	if r.Code != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

func (e *Engine) run(t testing.TB, cmd *exec.Cmd, stdin string) Result {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	return testenv.Run(t, cmd)
}

// tmpdirEnv is TMPDIR for what runs on the engine's behalf: the shims'
// runc-process* and pty* files and conmon's conmon-term.* sockets go there.
func tmpdirEnv(dir string) string { return "TMPDIR=" + filepath.Join(dir, "tmp") }

// workDir makes the engine's private directory, removed (after everything
// below it is unmounted) by t.Cleanup.
func workDir(t testing.TB, kind Kind) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tincan-test-engine-"+string(kind)+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountBelow(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("engine: remove %s: %v", dir, err)
		}
	})
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lookPath skips t when the engine's programs are not installed.
func lookPath(t testing.TB, kind Kind, pkg string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s: %s not found: apt-get install %s", kind, n, pkg)
		}
	}
}

// cgroupParent names the engine's cgroup parent after its directory, so two
// test processes never share one.
func cgroupParent(dir string) string {
	return "/" + filepath.Base(dir)
}

// daemon is a background process the harness started, and its log.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startDaemon starts cmd with its output in log, and registers its stop:
// SIGTERM to that PID, SIGKILL after 20s.
func startDaemon(t testing.TB, name string, cmd *exec.Cmd, log string) *daemon {
	t.Helper()
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, tmpdirEnv(filepath.Dir(log)))
	// Its own process group, so a ^C at the terminal reaches the test
	// (which cleans up), not the daemon directly; Pdeathsig so that a test
	// binary killed outright does not leave it behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start %v: %v", name, cmd.Args, err)
	}
	d := &daemon{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemon) stop(t testing.TB) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s (pid %d) did not stop on SIGTERM in 20s: killed", d.name, d.cmd.Process.Pid)
		d.cmd.Process.Kill()
		<-d.done
	}
}

// waitFor polls ok every 50ms until it holds, d passes, or the daemon dies.
// It waits for a daemon's socket, not for something the test asserts.
func (d *daemon) waitFor(t testing.TB, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		select {
		case <-d.done:
			t.Fatalf("%s exited before %s: %v\n%s", d.name, what, d.cmd.ProcessState, tail(d.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s after %s\n%s", d.name, what, within, tail(d.log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return path + ":\n" + string(b)
}

// stragglers lists the processes whose command line names dir (conmon, a
// containerd shim, podman's exit command), other than this one.
func stragglers(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if bytes.Contains(b, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// reapStragglers waits up to 10s for the processes that name dir to exit on
// their own (podman's cleanup process runs after the container), then kills
// what is left, an error: an engine left it behind.
func reapStragglers(t testing.TB, dir string) {
	deadline := time.Now().Add(10 * time.Second)
	for len(stragglers(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	for _, pid := range stragglers(dir) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Errorf("engine: left running, killed: pid %d %s", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		unix.Kill(pid, unix.SIGKILL)
	}
}

// unmountBelow detaches every mount point at or below dir, the deepest
// first: the storage drivers' bind of their own directory (overlay's home
// is made a private mount of itself), container root filesystems, shm.
func unmountBelow(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 4 {
			if p := fields[4]; p == dir || strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			t.Errorf("engine: umount %s: %v", points[i], err)
		}
	}
}

// cgroupMounts returns the mount point of each cgroup hierarchy whose root is
// mounted (field 4 of proc_pid_mountinfo(5) is "/"), v1 and v2 alike.
func cgroupMounts() []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var mnts []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 || f[3] != "/" || (g[0] != "cgroup" && g[0] != "cgroup2") || seen[f[4]] {
			continue
		}
		seen[f[4]] = true
		mnts = append(mnts, f[4])
	}
	return mnts
}

// CgroupsBelow lists the cgroup directories below parent in every hierarchy.
func CgroupsBelow(parent string) []string {
	var dirs []string
	for _, m := range cgroupMounts() {
		top := filepath.Join(m, parent)
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() && p != top {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	return dirs
}

// removeCgroups kills what is still in parent's cgroups (an error: the
// engine left it) and removes them, the deepest first.
func removeCgroups(t testing.TB, parent string) {
	for _, m := range cgroupMounts() {
		top := filepath.Join(m, parent)
		var dirs []string
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			// A frozen process cannot die of SIGKILL until thawed.
			os.WriteFile(filepath.Join(dirs[i], "freezer.state"), []byte("THAWED"), 0)
			os.WriteFile(filepath.Join(dirs[i], "cgroup.freeze"), []byte("0"), 0)
			for attempt := 0; ; attempt++ {
				b, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					pid, _ := strconv.Atoi(f)
					if attempt == 0 {
						t.Errorf("engine: pid %d left in %s: killed", pid, dirs[i])
					}
					unix.Kill(pid, unix.SIGKILL)
				}
				err := unix.Rmdir(dirs[i])
				if err == nil || errors.Is(err, unix.ENOENT) {
					break
				}
				if attempt == 50 {
					t.Errorf("engine: rmdir %s: %v", dirs[i], err)
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}
