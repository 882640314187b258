package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"tincan.dev/pkg/cgroup"
	"tincan.dev/pkg/testenv"
)

// plantState writes, in root, the state of a container whose can is dead
// (PID 0 never matches) and whose work dir is workDir.
func plantState(t *testing.T, root, id, workDir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(root, id), 0o755))
	b, _ := json.Marshal(map[string]any{"id": id, "owner": 0, "owner_time": 1, "work_dir": workDir})
	require.NoError(t, os.WriteFile(filepath.Join(root, id, "state.json"), b, 0o644))
}

// Rootless, another user may create the state root first (in /tmp anyone
// can) and plant a state whose work dir is the victim's: can refuses a root
// that is not the user's own, or that others may write, and deletes nothing.
func TestStateRootPlanted(t *testing.T) {
	testenv.NeedRoot(t)
	tmp := t.TempDir()
	require.NoError(t, os.Chmod(tmp, 0o1777)) // a /tmp of our own
	require.NoError(t, os.Chmod(filepath.Dir(tmp), 0o755))
	victim := filepath.Join(tmp, "victim")
	const id = "0123456789ab"
	work := filepath.Join(victim, ".work-"+id)
	require.NoError(t, os.MkdirAll(work, 0o755))
	require.NoError(t, os.Chown(victim, testenv.Nobody, testenv.Nobody))
	require.NoError(t, os.Chown(work, testenv.Nobody, testenv.Nobody))
	root := filepath.Join(tmp, fmt.Sprintf("tincan-%d", testenv.Nobody))
	cleanup := func(env ...string) testenv.Result {
		cmd := exec.Command(canBin(), "cleanup")
		testenv.AsNobody(t, cmd)
		cmd.Env = append(without(cmd.Env, "XDG_RUNTIME_DIR"), append([]string{"TMPDIR=" + tmp}, env...)...)
		return testenv.Run(t, cmd)
	}
	for _, tc := range []struct {
		name  string
		plant func()
		want  string
	}{
		{"another user's", func() { plantState(t, root, id, work) }, "belongs to uid 0, not to you"},
		{"writable by others", func() {
			plantState(t, root, id, work)
			require.NoError(t, os.Chown(root, testenv.Nobody, testenv.Nobody))
			require.NoError(t, os.Chmod(root, 0o777))
		}, "is writable by others"},
		{"a symlink", func() {
			plantState(t, filepath.Join(tmp, "elsewhere"), id, work)
			require.NoError(t, os.Symlink(filepath.Join(tmp, "elsewhere"), root))
		}, "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.RemoveAll(root)
			tc.plant()
			r := cleanup()
			require.Equal(t, 125, r.Code, r.Stderr)
			require.Contains(t, r.Stderr, "state directory "+root+" ")
			require.Contains(t, r.Stderr, tc.want)
			require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
			require.DirExists(t, work, "can deleted the victim's files")
		})
	}

	// $XDG_RUNTIME_DIR is used when set; there, the user's own dead state
	// is cleaned up as it should be.
	xdg := filepath.Join(tmp, "xdg")
	require.NoError(t, os.Mkdir(xdg, 0o700))
	mine := filepath.Join(xdg, "tincan")
	plantState(t, mine, id, work)
	require.NoError(t, os.Chmod(mine, 0o700))
	for _, p := range []string{xdg, mine, filepath.Join(mine, id), filepath.Join(mine, id, "state.json")} {
		require.NoError(t, os.Chown(p, testenv.Nobody, testenv.Nobody))
	}
	r := cleanup("XDG_RUNTIME_DIR=" + xdg)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.NoDirExists(t, filepath.Join(mine, id))
	require.NoDirExists(t, work, "the user's own dead container's work dir was not removed")
}

func without(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// Two containers on one --fs DIR would share its upper layer: the second is
// refused, and leaves nothing; commit is refused too while one runs.
func TestFsOneContainerAtATime(t *testing.T) {
	testenv.NeedRoot(t)
	dir := demoLayers(t)
	cmd, stdin := runningOn(t, dir)

	r := can(t, "--fs", dir, "--", "true")
	require.Equal(t, 125, r.Code, r.Stderr)
	require.Equal(t, "can: --fs "+dir+" is busy: another container runs on it (or it is being committed), and two would share its writable layer: wait for it to exit, or run on a copy of "+dir+"\n", r.Stderr)
	states, _ := filepath.Glob("/run/tincan/*/state.json")
	require.Len(t, states, 1, "the refused container left its state")
	works, _ := filepath.Glob(filepath.Join(dir, ".work-*"))
	require.Len(t, works, 1, "the refused container left its work dir")
	r = testenv.Run(t, exec.Command(canBin(), "commit", "--fs", dir))
	require.Equal(t, 125, r.Code, r.Stderr)

	stdin.Close()
	require.NoError(t, cmd.Wait())
	r = can(t, "--fs", dir, "--", "true")
	require.Equal(t, 0, r.Code, r.Stderr)
	requireNoState(t)
}

// A failed commit leaves nothing in DIR (the lock is an flock on DIR itself);
// extra arguments to commit and cleanup are refused, not ignored.
func TestCommitAndCleanupArgs(t *testing.T) {
	testenv.NeedRoot(t)
	empty := t.TempDir()
	r := testenv.Run(t, exec.Command(canBin(), "commit", "--fs", empty))
	require.Equal(t, 125, r.Code, r.Stderr)
	ents, err := os.ReadDir(empty)
	require.NoError(t, err)
	require.Empty(t, ents, "a failed commit left files in DIR")

	dir := demoLayers(t)
	r = testenv.Run(t, exec.Command(canBin(), "commit", "--fs", dir, "extra"))
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: commit: unexpected argument \"extra\": usage: can commit --fs DIR\n", r.Stderr)
	require.NoDirExists(t, filepath.Join(dir, "image/1"), "commit ran despite the extra argument")
	r = testenv.Run(t, exec.Command(canBin(), "cleanup", "extra"))
	require.Equal(t, 125, r.Code)
	require.Equal(t, "can: cleanup: unexpected argument \"extra\": usage: can cleanup [--all]\n", r.Stderr)
	// A mistyped flag is one line naming it, as for the run flags.
	for _, sub := range []string{"commit", "cleanup"} {
		r = testenv.Run(t, exec.Command(canBin(), sub, "--bogus"))
		require.Equal(t, 125, r.Code)
		require.Equal(t, "can: flag provided but not defined: -bogus (see can "+sub+" --help)\n", r.Stderr)
	}
}

// config.json holds the -e values, which may be secrets: only root reads it.
func TestConfigPrivate(t *testing.T) {
	testenv.NeedRoot(t)
	// The container's hostname is its ID. config.json, for people, is
	// written while CMD starts.
	r := can(t, "-e", "TOKEN=s3cret", "--", "sh", "-c",
		"f=/run/tincan/$(hostname)/config.json; n=0; until [ -e $f ] || [ $n = 500 ]; do n=$((n+1)); sleep 0.01; done; stat -c %a $f")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "600\n", r.Stdout)
}

// With /run full, can fails in one line and leaves no empty /run/tincan.
func TestFullRun(t *testing.T) {
	testenv.NeedRoot(t)
	// A tmpfs of few inodes on /run (the sandbox's), filled but for one:
	// enough for /run/tincan, not for a container's directory in it.
	require.NoError(t, unix.Mount("tmpfs", "/run", "tmpfs", 0, "nr_inodes=16"))
	t.Cleanup(func() { unix.Unmount("/run", unix.MNT_DETACH) })
	var last string
	for i := 0; ; i++ {
		last = fmt.Sprintf("/run/fill%d", i)
		if err := os.WriteFile(last, nil, 0o644); err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
	}
	require.NoError(t, os.Remove(fmt.Sprintf("/run/fill%d", 0)))
	r := can(t, "true")
	require.Equal(t, 125, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, "no space left on device")
	require.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
	require.NoDirExists(t, "/run/tincan", "a full /run left an empty /run/tincan")
}

// can cleanup finds a cgroup under tincan/ that no state records (a can
// killed before it wrote one), once it is old and empty; a young one may be
// a can's that is starting, in another state root, and stays.
func TestCleanupOrphanCgroups(t *testing.T) {
	testenv.NeedRoot(t)
	// Where the hierarchies are: <cgroup2>/tincan/ID and <v1 pids>/tincan/ID
	// on this hybrid host, only the first on a cgroup v2 one.
	l, err := cgroup.Detect()
	require.NoError(t, err)
	var roots []string
	for _, m := range []string{l.Unified, l.V1["pids"]} {
		if m != "" {
			roots = append(roots, m)
		}
	}
	require.NotEmpty(t, roots, "no cgroup hierarchy found")
	var made []string
	mk := func(age time.Duration) []string {
		id := fmt.Sprintf("%012x", rand.Uint64()&(1<<48-1))
		var dirs []string
		for _, m := range roots {
			d := filepath.Join(m, "tincan", id)
			require.NoError(t, os.MkdirAll(d, 0o755))
			made = append(made, d)
			dirs = append(dirs, d)
			old := time.Now().Add(-age)
			require.NoError(t, os.Chtimes(d, old, old))
		}
		return dirs
	}
	t.Cleanup(func() {
		for _, d := range made {
			os.Remove(d)
			os.Remove(filepath.Dir(d)) // tincan/, when empty
		}
	})
	orphan, young := mk(2*time.Minute), mk(0)
	r := testenv.Run(t, exec.Command(canBin(), "cleanup"))
	require.Equal(t, 0, r.Code, r.Stderr)
	for _, d := range orphan {
		require.NoDirExists(t, d, "an orphan cgroup survived can cleanup")
	}
	for _, d := range young {
		require.DirExists(t, d, "a young cgroup, maybe a starting can's, was removed")
	}
}
