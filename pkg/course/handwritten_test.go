package course

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// handWritten holds, for each step, a solution a student could write: the
// code for each TODO(exercise) line, in order, and the imports it needs. It
// is written differently from the reference on purpose (syscall or raw
// golang.org/x/sys/unix calls instead of pkg/trace, os.WriteFile, netlink
// without the rtnl wrapper, MS_SLAVE for MS_PRIVATE, other error texts), so
// that make check is seen to judge what the kernel shows, not how.
var handWritten = map[string]struct {
	imports []string
	todos   []string
}{
	"01-net": {[]string{"syscall"}, []string{
		`cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNET`,
		`v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd, TxQLen: -1}, PeerName: innerEnd, PeerNamespace: netlink.NsPid(cmd.Pid)}
		if err := netlink.LinkAdd(v); err != nil {
			cmd.Abort()
			return 0, err
		}
		defer netlink.LinkDel(v)
		if err := netlink.AddrAdd(v, &netlink.Addr{IPNet: hostAddr}); err != nil {
			cmd.Abort()
			return 0, err
		}
		if err := netlink.LinkSetUp(v); err != nil {
			cmd.Abort()
			return 0, err
		}`,
		`for _, name := range []string{"lo", "eth0"} {
		if name == "eth0" && !*veth {
			break
		}
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if name == "eth0" {
			if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: innerAddr}); err != nil {
				return err
			}
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
	}`}},
	"02-mnt": {[]string{"syscall"}, []string{
		`cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS`,
		`if err := syscall.Mount("none", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %v", err)
	}
	for _, d := range tmpfs {
		if err := syscall.Mount("scratch", d, "tmpfs", 0, "size=1m"); err != nil {
			return err
		}
	}`}},
	"03-uts": {[]string{"golang.org/x/sys/unix"}, []string{
		`cmd.SysProcAttr.Cloneflags |= unix.CLONE_NEWUTS`,
		`if err := unix.Sethostname([]byte(*hostname)); err != nil {
		return err
	}`}},
	"04-ipc": {[]string{"syscall"}, []string{
		`cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWIPC`}},
	"05-pid": {[]string{"golang.org/x/sys/unix"}, []string{
		`cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWPID`,
		`if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil {
		return err
	}`}},
	"06-user": {[]string{"syscall"}, []string{
		`cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER`,
		`write := func(file string, lines userns.Maps) error {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(fmt.Sprintf("%d %d %d\n", l.Inside, l.Outside, l.Count))
		}
		return os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, file), []byte(b.String()), 0)
	}
	if err := write("uid_map", m.UID); err != nil {
		return err
	}
	if os.Getuid() != 0 {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/setgroups", pid), []byte("deny"), 0); err != nil {
			return err
		}
	}
	if err := write("gid_map", m.GID); err != nil {
		return err
	}`}},
	"07-pivotroot": {[]string{"golang.org/x/sys/unix", "os"}, []string{
		`if err := unix.Mount(*root, *root, "bind", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}`,
		`if err := os.Chdir(*root); err != nil {
		return err
	}
	if *chroot {
		if err := unix.Chroot("."); err != nil {
			return err
		}
	} else {
		if err := unix.PivotRoot(".", "."); err != nil {
			return fmt.Errorf("pivot_root: %w", err)
		}
		if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
			return err
		}
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}`}},
	"09-full": {[]string{"os", "path/filepath", "strconv", "golang.org/x/sys/unix"}, []string{
		`f, err := os.Open(*dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("commit: %s is in use: %w", *dir, err)
	}
	n := 0
	for {
		if _, err := os.Stat(filepath.Join(*dir, "image", strconv.Itoa(n))); err != nil {
			break
		}
		n++
	}
	layer = filepath.Join(*dir, "image", strconv.Itoa(n))
	if err := os.Rename(filepath.Join(*dir, "container"), layer); err != nil {
		return err
	}
	err = os.Mkdir(filepath.Join(*dir, "container"), 0o755)`}},
	"08-cgroup": {[]string{"os", "path/filepath", "strconv"}, []string{
		`for _, dir := range dirs {
		err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Pid)), 0o644)
		if err != nil {
			cmd.Abort()
			return 0, err
		}
	}`,
		`err = os.Mkdir(dir, 0o755)`,
		`if err := os.WriteFile(path, []byte(w.value), 0o644); err != nil {
		return nil, err
	}`}},
}

// solve replaces the TODO(exercise) lines of exercise, in order, with
// todos, and adds the imports that are missing.
func solve(t *testing.T, exercise string, imports, todos []string) string {
	var out []string
	n := 0
	for _, line := range strings.SplitAfter(exercise, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), todoMarker) {
			require.Less(t, n, len(todos), "more TODO lines than solutions")
			indent := line[:len(line)-len(strings.TrimLeft(line, "\t"))]
			line = indent + todos[n] + "\n"
			n++
		}
		out = append(out, line)
	}
	require.Equal(t, len(todos), n, "TODO lines and solutions differ in number")
	src := strings.Join(out, "")
	for _, imp := range imports {
		if !strings.Contains(src, "\t\""+imp+"\"\n") {
			src = strings.Replace(src, "import (\n", "import (\n\t\""+imp+"\"\n", 1)
		}
	}
	return src
}

// TestHandWrittenSolutionsPass is the course's other promise: a correct
// solution passes make check however it is written. Every marked step's
// exercise gets the hand-written solution above, which must build and pass
// every check, as root, in a copy of the workspace. About as long as
// TestCheckExerciseFailsSolutionPasses; skipped with -short and without root.
func TestHandWrittenSolutionsPass(t *testing.T) {
	w, steps := everyStep(t, "runs every step's tests")
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			sol, ok := handWritten[step]
			require.True(t, ok, "no hand-written solution for %s in handWritten", step)
			_, err := w.MakeExercise(step, false)
			require.NoError(t, err)
			main := filepath.Join(w.Root, step, "main.go")
			ex, err := os.ReadFile(main)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(main, []byte(solve(t, string(ex), sol.imports, sol.todos)), 0o644))
			gofmt := exec.Command("gofmt", "-l", "-w", "main.go")
			gofmt.Dir = filepath.Dir(main)
			out, err := gofmt.CombinedOutput()
			require.NoError(t, err, "%s", out)
			var report strings.Builder
			passed, err := w.Check(step, &report)
			require.NoError(t, err)
			src, _ := os.ReadFile(main)
			require.True(t, passed, "make check fails on a hand-written solution of %s:\n%s\n%s", step, report.String(), src)
		})
	}
}
