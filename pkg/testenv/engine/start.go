package engine

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/testenv"
)

// common makes the engine's directory, its runtime wrapper, and registers the
// cleanups that run after the daemon is stopped (t.Cleanup is last in,
// first out): reap the processes that name the directory, remove the cgroups,
// then (workDir) unmount and remove the directory.
func common(t testing.TB, kind Kind, runtime string) *Engine {
	t.Helper()
	testenv.NeedRoot(t)
	if !testenv.Sandboxed() {
		t.Fatalf("engine: %s needs testenv's sandbox, for its private /run: func TestMain(m *testing.M) { testenv.Main(m) }", kind)
	}
	dir := workDir(t, kind)
	e := &Engine{Kind: kind, dir: dir, CgroupParent: cgroupParent(dir), Runtime: NewRuntime(t, runtime, dir)}
	t.Cleanup(func() {
		reapStragglers(t, dir)
		removeCgroups(t, e.CgroupParent)
	})
	return e
}

// StartPodman returns podman with its storage under a private directory,
// using runtime, with the image archive loaded. Podman has no daemon: each
// container has a conmon, which calls the runtime, and runs `podman container
// cleanup` (with the same global flags) when the container exits.
func StartPodman(t testing.TB, runtime, image string) *Engine {
	t.Helper()
	lookPath(t, Podman, "podman conmon", "podman", "conmon")
	e := common(t, Podman, runtime)
	d := e.dir
	// podman raises RLIMIT_NOFILE and RLIMIT_NPROC to their maximum for a
	// root container, which needs CAP_SYS_RESOURCE when the hard limit is
	// lower; where it is missing, create fails ("setrlimit ... operation
	// not permitted"). Ask for limits under any hard limit instead.
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
volume_path = %q
[network]
network_config_dir = %q
`, filepath.Join(d, "events.log"), filepath.Join(d, "tmp"), filepath.Join(d, "volumes"), filepath.Join(d, "networks"))
	if err := os.WriteFile(filepath.Join(d, "containers.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(d, "root"), filepath.Join(d, "run"))
	if err := os.WriteFile(filepath.Join(d, "storage.conf"), []byte(storage), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "registries.conf"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(d, "containers.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(d, "registries.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(d, "storage.conf"),
	}
	// No --runtime-flag root=DIR: podman does not pass it on to the
	// `podman container cleanup` that conmon runs when a container exits,
	// whose `runtime delete --force` then looks in the default root
	// (/run/runc, private to testenv's sandbox) and leaves the cgroup.
	e.base = []string{"podman", "--root", filepath.Join(d, "root"), "--runroot", filepath.Join(d, "run"),
		"--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--runtime", e.Runtime.Wrapper,
		"--tmpdir", filepath.Join(d, "tmp")}
	t.Cleanup(func() { e.Do(t, "rm", "--all", "--force", "--time", "0") })
	// podman load keeps a blob cache in /var/lib/containers/cache, a path
	// no flag or configuration moves.
	shadow(t, "/var/lib/containers/cache", filepath.Join(d, "blob-cache"))
	e.Must(t, "load", "--quiet", "--input", image)
	return e
}

// StartContainerd starts a private containerd and returns its ctr client,
// using runtime (ctr run --runc-binary), with the image archive imported.
func StartContainerd(t testing.TB, runtime, image string) *Engine {
	t.Helper()
	lookPath(t, Ctr, "containerd", "containerd", "ctr", "containerd-shim-runc-v2")
	e := common(t, Ctr, runtime)
	d := e.dir
	sock := startContainerd(t, d)
	e.base = []string{"ctr", "--address", sock, "--namespace", "tincan-test"}
	t.Cleanup(func() { e.removeAllCtr(t) })
	e.Must(t, "images", "import", image)
	return e
}

// startContainerd starts containerd with everything under d and returns
// the path of its socket once it answers.
func startContainerd(t testing.TB, d string) string {
	t.Helper()
	sock := filepath.Join(d, "containerd.sock")
	// No CRI (it would want CNI and a pause image); the opt plugin would
	// make /opt/containerd. The shims' sockets stay in /run/containerd/s,
	// runc's state in /run/containerd/runc/NAMESPACE (ctr run --runc-root
	// could move that, but the tests keep what users see): both inside the
	// sandbox's private /run.
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(d, "containerd"), filepath.Join(d, "containerd-state"), sock, sock+".ttrpc", filepath.Join(d, "opt"))
	config := filepath.Join(d, "containerd.toml")
	if err := os.WriteFile(config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	daemon := startDaemon(t, "containerd", exec.Command("containerd", "--config", config), filepath.Join(d, "containerd.log"))
	daemon.waitFor(t, "socket "+sock, 30*time.Second, func() bool {
		return exec.Command("ctr", "--address", sock, "version").Run() == nil
	})
	return sock
}

// removeAllCtr deletes every task and container of the namespace.
func (e *Engine) removeAllCtr(t testing.TB) {
	for _, id := range strings.Fields(e.Do(t, "containers", "list", "--quiet").Stdout) {
		e.Do(t, "tasks", "kill", "--signal", "SIGKILL", id)
		e.Do(t, "tasks", "delete", "--force", id)
		e.Do(t, "containers", "delete", id)
	}
}

// StartDocker starts a private containerd and a dockerd using it (the one
// dockerd would start itself makes /opt/containerd), and returns its docker client, with runtime registered as the runtime named
// "tincan-test" (docker run --runtime tincan-test) and the image loaded.
func StartDocker(t testing.TB, runtime, image string) *Engine {
	t.Helper()
	lookPath(t, Docker, "docker.io", "dockerd", "docker", "containerd", "containerd-shim-runc-v2")
	e := common(t, Docker, runtime)
	d := e.dir
	sock := filepath.Join(d, "docker.sock")
	conf := fmt.Sprintf(`{"runtimes": {"tincan-test": {"path": %q}}}`, e.Runtime.Wrapper)
	if err := os.WriteFile(filepath.Join(d, "daemon.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Docker 20.10 writes its trust key to /etc/docker/key.json, a path no
	// flag moves.
	shadow(t, "/etc/docker", filepath.Join(d, "etc"))
	ctrd := startContainerd(t, d)
	// No network setup (no bridge, iptables or masquerade: run --network
	// none), and the cgroupfs driver with an absolute parent.
	cmd := exec.Command("dockerd", "--config-file", filepath.Join(d, "daemon.json"),
		"--data-root", filepath.Join(d, "data"), "--exec-root", filepath.Join(d, "exec"),
		"--pidfile", filepath.Join(d, "docker.pid"), "--host", "unix://"+sock,
		"--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none", "--userland-proxy=false",
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", e.CgroupParent,
		"--storage-driver", "overlay2", "--containerd", ctrd)
	daemon := startDaemon(t, "dockerd", cmd, filepath.Join(d, "dockerd.log"))
	e.base = []string{"docker", "--host", "unix://" + sock}
	e.env = []string{"DOCKER_CONFIG=" + filepath.Join(d, "client")}
	daemon.waitFor(t, "socket "+sock, 60*time.Second, func() bool {
		return e.Command("version").Run() == nil
	})
	t.Cleanup(func() {
		if ids := strings.Fields(e.Do(t, "ps", "--all", "--quiet").Stdout); len(ids) > 0 {
			e.Do(t, append([]string{"rm", "--force"}, ids...)...)
		}
	})
	e.Must(t, "load", "--quiet", "--input", image)
	return e
}

// shadow binds dir (made) over target for the rest of the test, where an
// engine writes to a fixed path on the host: the bind is in the sandbox's own
// mount namespace, so the host's target never sees the writes. The
// directories of target that it has to make are removed afterwards.
func shadow(t testing.TB, target, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var made []string
	for p := target; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		made = append(made, p)
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() {
		for _, p := range made {
			os.Remove(p) // only while empty
		}
	})
	if err := unix.Mount(dir, target, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("engine: bind %s on %s: %v", dir, target, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			t.Errorf("engine: umount %s: %v", target, err)
		}
	})
}
