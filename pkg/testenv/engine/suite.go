package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/testenv"
)

// Test runs the end-to-end tests with each engine, podman, containerd (ctr)
// and Docker, using the OCI runtime at path runtime (runc, or bin/can), one
// subtest per engine, one private engine each. Each engine's subtest logs how
// long it took and, under -v, every call it made to the runtime. An engine
// that is not installed skips, saying which package to install.
func Test(t *testing.T, runtime string) {
	testenv.NeedRoot(t)
	dir, err := os.MkdirTemp("", "tincan-test-engine-image-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	image := BuildImage(t, dir)
	for _, s := range []struct {
		kind  Kind
		start func(testing.TB, string, string) *Engine
	}{{Podman, StartPodman}, {Ctr, StartContainerd}, {Docker, StartDocker}} {
		t.Run(string(s.kind), func(t *testing.T) {
			began := time.Now()
			e := s.start(t, runtime, image)
			t.Cleanup(func() {
				t.Logf("%s with %s: %s; the runtime was called so:\n%s", s.kind, runtime,
					time.Since(began).Round(time.Millisecond), strings.Join(e.Runtime.Calls(), "\n"))
			})
			Cases(t, e)
		})
	}
}

// Script arguments that read a cgroup limit from inside the container: the
// v1 file (a per-controller hierarchy, the container's own cgroup mounted
// there) or else the v2 one.
var (
	memoryLimit = []string{"sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"}
	pidsLimit   = []string{"sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"}
	capEff      = []string{"sh", "-c", "grep CapEff /proc/self/status"}
)

// Cases runs each test of one engine as a subtest of t.
func Cases(t *testing.T, e *Engine) {
	run := func(t *testing.T, o Opts, cmd ...string) Result {
		t.Helper()
		r := e.Run(t, o, cmd...)
		t.Log(r)
		return r
	}
	ok := func(t *testing.T, o Opts, cmd ...string) string {
		t.Helper()
		r := run(t, o, cmd...)
		require.Equal(t, 0, r.Code, "%s", r)
		return r.Stdout
	}
	t.Run("run", func(t *testing.T) {
		require.Equal(t, "hello\n", ok(t, Opts{}, "echo", "hello"))
	})
	t.Run("exit-code", func(t *testing.T) {
		require.Equal(t, 3, run(t, Opts{}, "sh", "-c", "exit 3").Code)
	})
	t.Run("not-found", func(t *testing.T) {
		// Docker and podman turn the runtime's error message into the
		// exit code: 127 when it says "executable file not found" or "no
		// such file or directory", 126 for "permission denied". They read
		// it from the --log file (JSON lines): had the runtime written no
		// log.json, Docker's "open .../log.json: no such file or
		// directory" alone would give 127, so the command's name must be
		// in the message too. Podman passes --log-format=json only to the
		// runtimes named in containers.conf's runtime_supports_json (runc,
		// crun, ...), and otherwise reads the runtime's stderr as text.
		r := run(t, Opts{}, "tincan-test-no-such-command")
		require.Contains(t, r.Stderr, "tincan-test-no-such-command")
		if e.Kind == Ctr {
			require.NotEqual(t, 0, r.Code)
		} else {
			require.Equal(t, 127, r.Code, "%s", r)
		}
	})
	t.Run("env", func(t *testing.T) {
		require.Equal(t, "bar\n", ok(t, Opts{Env: []string{"FOO=bar"}}, "sh", "-c", "echo $FOO"))
	})
	t.Run("user", func(t *testing.T) {
		// podman adds the uid to /etc/passwd: uid=1000(1000) gid=1000(1000).
		require.Regexp(t, `^uid=1000\b.* gid=1000\b`, ok(t, Opts{User: "1000:1000"}, "id"))
	})
	t.Run("workdir", func(t *testing.T) {
		require.Equal(t, "/tmp\n", ok(t, Opts{Workdir: "/tmp"}, "pwd"))
	})
	t.Run("read-only", func(t *testing.T) {
		require.Equal(t, "ok\n", ok(t, Opts{}, "sh", "-c", "touch /tincan-test && echo ok"))
		r := run(t, Opts{ReadOnly: true}, "touch", "/tincan-test")
		require.NotEqual(t, 0, r.Code)
		require.Contains(t, r.Stdout+r.Stderr, "Read-only file system")
	})
	t.Run("cap-drop", func(t *testing.T) {
		require.Equal(t, "ok\n", ok(t, Opts{}, "sh", "-c", "chown 1 /tmp && echo ok"))
		r := run(t, Opts{CapDrop: []string{"CHOWN"}}, "chown", "1", "/tmp")
		require.NotEqual(t, 0, r.Code)
		require.Contains(t, r.Stdout+r.Stderr, "Operation not permitted")
		require.False(t, hasCap(t, ok(t, Opts{CapDrop: []string{"CHOWN"}}, capEff...), 0), "CAP_CHOWN still effective")
	})
	t.Run("cap-add", func(t *testing.T) {
		const sysAdmin = 21
		require.False(t, hasCap(t, ok(t, Opts{}, capEff...), sysAdmin), "CAP_SYS_ADMIN effective by default")
		require.True(t, hasCap(t, ok(t, Opts{CapAdd: []string{"SYS_ADMIN"}}, capEff...), sysAdmin), "--cap-add SYS_ADMIN not effective")
	})
	t.Run("stdin", func(t *testing.T) {
		require.Equal(t, "got:hi\n", ok(t, Opts{Stdin: "hi\n"}, "sh", "-c", "read l; echo got:$l"))
	})
	t.Run("stdin-eof", func(t *testing.T) {
		if e.Kind == Ctr {
			t.Skip("ctr never closes a non-terminal container's stdin at EOF (containerd 1.6): cat would wait forever")
		}
		require.Equal(t, "hi\n", ok(t, Opts{Stdin: "hi\n"}, "cat"))
	})
	t.Run("tty", func(t *testing.T) {
		require.Equal(t, "no tty\n", ok(t, Opts{}, "sh", "-c", "test -t 0 || echo no tty"))
		// \r\n from the container's terminal; ctr, which leaves the
		// client's terminal cooked, adds a \r of its own.
		require.Regexp(t, `(?m)^tty\r+\n`, ok(t, Opts{TTY: true}, "sh", "-c", "test -t 0 && test -t 1 && echo tty"))
	})
	t.Run("memory", func(t *testing.T) {
		o := Opts{Memory: 32 << 20}
		require.Equal(t, "33554432", limit(t, e, o, "memory.limit_in_bytes", "memory.max"))
		if e.Kind != Ctr { // ctr's spec mounts no cgroup filesystem inside
			require.Equal(t, "33554432\n", ok(t, o, memoryLimit...))
		}
	})
	t.Run("pids-limit", func(t *testing.T) {
		o := Opts{PidsLimit: 10}
		require.Equal(t, "10", limit(t, e, o, "pids.max"))
		require.Equal(t, "10\n", ok(t, o, pidsLimit...))
	})
	t.Run("lifecycle", func(t *testing.T) { lifecycle(t, e) })
	t.Run("kill", func(t *testing.T) {
		name := e.Name()
		e.Start(t, name, Opts{}, "sleep", "1000")
		r := e.Kill(t, name, "KILL")
		require.Equal(t, 0, r.Code, "%s", r)
		if code := e.ExitCode(t, name); code != -1 {
			require.Equal(t, 128+9, code)
		}
		r = e.Remove(t, name)
		require.Equal(t, 0, r.Code, "%s", r)
	})
	t.Run("no-cgroups-left", func(t *testing.T) {
		var left []string
		for _, d := range CgroupsBelow(e.CgroupParent) {
			if e.Kind != Podman || filepath.Base(d) != "conmon" { // podman's, for every conmon
				left = append(left, d)
			}
		}
		require.Empty(t, left)
	})
}

// lifecycle is a detached container taken through exec, top, pause, unpause,
// stop and rm; its cgroup must be below the engine's parent, and gone after.
func lifecycle(t *testing.T, e *Engine) {
	name := e.Name()
	// sh as PID 1 has no default action for SIGTERM: the trap makes stop
	// end it at once, with status 0, instead of by SIGKILL 10s later.
	e.Start(t, name, Opts{}, "sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait")
	require.Equal(t, "running", e.Status(t, name))
	pid := e.PID(t, name)
	require.NotZero(t, pid)
	var cgroups []cgroupPath
	for _, p := range containerCgroups(t, pid) {
		// A hierarchy with no controller (name=systemd) counts nothing:
		// runc puts containers there for systemd's sake, can does not.
		if !strings.HasPrefix(p.controller, "name=") {
			cgroups = append(cgroups, p)
		}
	}
	for _, p := range cgroups {
		require.True(t, strings.HasPrefix(p.path, e.CgroupParent+"/"), "container's %s cgroup %s is not below %s", p.controller, p.path, e.CgroupParent)
	}

	r := e.Exec(t, name, "echo", "hi")
	require.Equal(t, 0, r.Code, "%s", r)
	require.Equal(t, "hi\n", r.Stdout)
	require.Equal(t, 4, e.Exec(t, name, "sh", "-c", "exit 4").Code)
	r = e.ExecTTY(t, name, "sh", "-c", "test -t 0 && test -t 1 && echo tty")
	require.Equal(t, 0, r.Code, "%s", r)
	require.Regexp(t, `(?m)^tty\r+\n`, r.Stdout)

	r = e.Top(t, name)
	require.Equal(t, 0, r.Code, "%s", r)
	t.Log(r.Stdout)
	if e.Kind == Ctr {
		require.Contains(t, r.Stdout, strconv.Itoa(pid)) // ctr lists host PIDs only
	} else {
		require.Contains(t, r.Stdout, "sleep")
	}

	r = e.Pause(t, name)
	require.Equal(t, 0, r.Code, "%s", r)
	require.Equal(t, "paused", e.Status(t, name))
	if state, ok := freezerState(cgroups); ok {
		require.Equal(t, "FROZEN", state)
	}
	r = e.Unpause(t, name)
	require.Equal(t, 0, r.Code, "%s", r)
	require.Equal(t, "running", e.Status(t, name))
	if state, ok := freezerState(cgroups); ok {
		require.Equal(t, "THAWED", state)
	}
	require.Equal(t, 0, e.Exec(t, name, "true").Code)

	r = e.Stop(t, name)
	require.Equal(t, 0, r.Code, "%s", r)
	require.Equal(t, "exited", e.Status(t, name))
	if code := e.ExitCode(t, name); code != -1 {
		require.Equal(t, 0, code, "exit status after SIGTERM, trapped")
	}
	r = e.Remove(t, name)
	require.Equal(t, 0, r.Code, "%s", r)
	for _, p := range cgroups {
		_, err := os.Stat(p.dir)
		require.True(t, os.IsNotExist(err), "the container's cgroup %s is still there after rm", p.dir)
	}
}

// limit starts a container with o and returns the first of files found in
// its cgroup directories, as the host sees them.
func limit(t *testing.T, e *Engine, o Opts, files ...string) string {
	name := e.Name()
	e.Start(t, name, o, "sleep", "1000")
	defer e.ForceRemove(t, name)
	for _, f := range files {
		for _, p := range containerCgroups(t, e.PID(t, name)) {
			if b, err := os.ReadFile(filepath.Join(p.dir, f)); err == nil {
				return strings.TrimSpace(string(b))
			}
		}
	}
	t.Fatalf("none of %v in the container's cgroups", files)
	return ""
}

// hasCap reports whether bit n is set in the CapEff line of /proc/self/status.
func hasCap(t *testing.T, status string, n uint) bool {
	_, hex, found := strings.Cut(strings.TrimSpace(status), "\t")
	require.True(t, found, "no CapEff in %q", status)
	v, err := strconv.ParseUint(hex, 16, 64)
	require.NoError(t, err)
	return v&(1<<n) != 0
}

type cgroupPath struct{ controller, path, dir string }

// containerCgroups reads /proc/PID/cgroup: each hierarchy's path and its
// directory on the host.
func containerCgroups(t *testing.T, pid int) []cgroupPath {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	require.NoError(t, err)
	t.Logf("/proc/%d/cgroup:\n%s", pid, b)
	mounts := map[string]string{} // controller list ("" for v2) to mount point
	for _, m := range cgroupMounts() {
		mounts[v1Controllers(m)] = m
	}
	var out []cgroupPath
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		if m, ok := mounts[f[1]]; ok {
			out = append(out, cgroupPath{f[1], f[2], filepath.Join(m, f[2])})
		}
	}
	require.NotEmpty(t, out)
	return out
}

// v1Controllers is the controller list a v1 hierarchy mounted at m shows in
// /proc/PID/cgroup ("cpu,cpuacct", "name=systemd"), from its mount options;
// "" for cgroup2.
func v1Controllers(m string) string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || f[4] != m || g[0] != "cgroup" {
			continue
		}
		var ctls []string
		for _, o := range strings.Split(g[2], ",") {
			switch o {
			case "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "clone_children", "xattr", "noprefix", "cpuset_v2_mode":
			default:
				if !strings.HasPrefix(o, "release_agent=") {
					ctls = append(ctls, o)
				}
			}
		}
		return strings.Join(ctls, ",")
	}
	return ""
}

// freezerState is the v1 freezer.state of the container's cgroup, or else
// the v2 cgroup.freeze as FROZEN/THAWED. On a hybrid host the v2 file exists
// too, but a runtime freezes with the v1 freezer there.
func freezerState(cgroups []cgroupPath) (string, bool) {
	for _, p := range cgroups {
		if b, err := os.ReadFile(filepath.Join(p.dir, "freezer.state")); err == nil {
			return strings.TrimSpace(string(b)), true
		}
	}
	for _, p := range cgroups {
		if b, err := os.ReadFile(filepath.Join(p.dir, "cgroup.freeze")); err == nil {
			if strings.TrimSpace(string(b)) == "1" {
				return "FROZEN", true
			}
			return "THAWED", true
		}
	}
	return "", false
}
