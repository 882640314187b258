package course

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExercise(t *testing.T) {
	src := `package main

import (
	"fmt"
	"os"
)

func main() {
	// exercise: say hello on stdout: fmt.Println
	fmt.Println("hello")
	// end exercise
	os.Exit(0)
}
`
	want := `package main

import (
	"os"
)

func main() {
	// TODO(exercise): say hello on stdout: fmt.Println
	os.Exit(0)
}
`
	got, err := Exercise([]byte(src))
	require.NoError(t, err)
	require.Equal(t, want, string(got))
}

func TestExerciseRefusesBadMarkers(t *testing.T) {
	for src, want := range map[string]string{
		"package main\n":                                 "no exercise markers",
		"package main\n// exercise: a\n":                 "line 2: exercise block never ends",
		"package main\n// exercise:\n// end exercise\n":  "line 2: the exercise marker has no hint",
		"package main\n// end exercise\n":                "line 2: \"// end exercise\" without an open exercise block",
		"package main\n// exercise: a\n// exercise: b\n": "line 3: exercise block inside the one opened on line 2",
	} {
		_, err := Exercise([]byte(src))
		require.ErrorContains(t, err, want, src)
	}
}

func TestHumanize(t *testing.T) {
	for test, want := range map[string]string{
		"TestPIDNamespace":          "PID namespace",
		"TestPsAuxShowsOnlyPID1":    "ps aux shows only PID1",
		"TestCommandNotFound":       "command not found",
		"TestMemoryLimitOOMKills":   "memory limit OOM kills",
		"TestExitStatusPassesA":     "exit status passes a",
		"TestHostnameInOwnUTSSpace": "hostname in own UTS space",
	} {
		require.Equal(t, want, Humanize(test), test)
	}
}

// said is the output event of a verdict line, as go test -json prints it.
func said(test string, s Said) string {
	var line strings.Builder
	Say(&line, s)
	b, _ := json.Marshal(event{Action: "output", Package: "tincan.dev/05-pid", Test: test, Output: line.String()})
	return string(b) + "\n"
}

func ev(action, test string) string {
	b, _ := json.Marshal(event{Action: action, Package: "tincan.dev/05-pid", Test: test})
	return string(b) + "\n"
}

// The verdicts are the tests' own sentences, in the order the tests end;
// testify's and go-cmp's output around them is never read.
func TestResults(t *testing.T) {
	stream := ev("start", "") +
		ev("run", "TestPIDNamespace") +
		said("TestPIDNamespace", Said{Test: "TestPIDNamespace", OK: "PID namespace", Else: "not PID 1"}) +
		`{"Action":"output","Package":"tincan.dev/05-pid","Test":"TestPIDNamespace","Output":"        \tMessages:   \tthe command shares the host's PID namespace\n"}` + "\n" +
		said("TestPIDNamespace", Said{Test: "TestPIDNamespace", Fail: "the command shares the host's PID namespace: CLONE_NEWPID\nmore"}) +
		ev("fail", "TestPIDNamespace") +
		ev("run", "TestPsAux") +
		said("TestPsAux", Said{Test: "TestPsAux", OK: "ps aux", Else: "ps aux shows the host"}) +
		ev("fail", "TestPsAux") +
		ev("run", "TestCommandNotFound") +
		ev("pass", "TestCommandNotFound") +
		ev("run", "TestTranscripts") +
		said("TestTranscripts", Said{Test: "TestTranscripts/testdata/a", OK: "transcript testdata/a.ct", Else: "a differs"}) +
		said("TestTranscripts", Said{Test: "TestTranscripts/testdata/b", OK: "transcript testdata/b.ct", Else: "b differs"}) +
		ev("run", "TestTranscripts/testdata/a") +
		ev("pass", "TestTranscripts/testdata/a") +
		ev("run", "TestTranscripts/testdata/b") +
		ev("fail", "TestTranscripts/testdata/b") +
		ev("fail", "TestTranscripts") +
		ev("run", "TestSmoke") +
		said("TestSmoke", Said{Test: "TestSmoke", OK: "smoke"}) +
		ev("run", "TestSmoke/root") +
		said("TestSmoke/root", Said{Test: "TestSmoke/root", Fail: "/ is not the rootfs"}) +
		ev("fail", "TestSmoke/root") +
		ev("fail", "TestSmoke") +
		ev("run", "TestRootless") +
		said("TestRootless", Said{Test: "TestRootless", OK: "works without root"}) +
		said("TestRootless", Said{Test: "TestRootless", Skip: "needs root"}) +
		ev("skip", "TestRootless") +
		ev("run", "TestDies") +
		said("", Said{Fail: "the tests left something on the host:\n/sys/fs/cgroup/pids/tincan/x"}) +
		ev("fail", "")
	hint := func(test string) string {
		return "the test stopped before it said why: make test STEP=05-pid TESTFLAGS='-run ^" + test + "$' shows its log"
	}
	require.Equal(t, []Result{
		{Status: "FAIL", Text: "the command shares the host's PID namespace: CLONE_NEWPID", Detail: "more"},
		{Status: "FAIL", Text: "ps aux shows the host", Detail: hint("TestPsAux")},
		{Status: "ok", Text: "command not found"},
		{Status: "ok", Text: "transcript testdata/a.ct"},
		{Status: "FAIL", Text: "b differs", Detail: hint("TestTranscripts/testdata/b")},
		{Status: "FAIL", Text: "/ is not the rootfs"},
		{Status: "skip", Text: "works without root", Detail: "needs root"},
		{Status: "FAIL", Text: "the test did not end: the test binary died (make test STEP=05-pid shows how)"},
		{Status: "FAIL", Text: "the tests left something on the host:", Detail: "/sys/fs/cgroup/pids/tincan/x"},
	}, Results("05-pid", strings.NewReader(stream)))
}

func TestDiff(t *testing.T) {
	w := realWorkspace(t)
	d, err := w.Diff("05-pid")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(d, "05-pid: In a new PID namespace the first process is PID 1"), d)
	require.Contains(t, d, "--- 04-ipc/main.go\n+++ 05-pid/main.go\n")
	require.Contains(t, d, "\n+\tcmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID | unix.CLONE_NEWNS\n")
	require.Contains(t, d, "\n-\tcmd.SysProcAttr.Cloneflags = unix.CLONE_NEWIPC\n")
	first, err := w.Diff("01-net")
	require.NoError(t, err)
	require.Contains(t, first, "--- /dev/null\n+++ 01-net/main.go\n")
}

// Every step with markers gives an exercise that still compiles and vets,
// and that has lost every marked line. go vet type-checks the file, so an
// unused import or variable left behind fails here.
func TestEveryExerciseCompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every step: skipped with -short")
	}
	w := copyWorkspace(t)
	for _, step := range markedSteps(t, w) {
		msg, err := w.MakeExercise(step, false)
		require.NoError(t, err)
		require.Contains(t, msg, "is now the exercise")
		ex, err := os.ReadFile(filepath.Join(w.Root, step, "main.go"))
		require.NoError(t, err)
		require.False(t, HasMarkers(ex), step)
		require.Contains(t, string(ex), todoMarker, step)
		vet := exec.Command("go", "vet", ".")
		vet.Dir = filepath.Join(w.Root, step)
		out, err := vet.CombinedOutput()
		require.NoError(t, err, "the exercise of %s does not build:\n%s\n%s", step, out, ex)
	}
}

// make exercise, then make solution, gives back main.go byte for byte; a
// student's changes are never lost.
func TestRoundTrip(t *testing.T) {
	w := copyWorkspace(t)
	for _, step := range markedSteps(t, w) {
		main := filepath.Join(w.Root, step, "main.go")
		orig, err := os.ReadFile(main)
		require.NoError(t, err)

		_, err = w.MakeExercise(step, false)
		require.NoError(t, err)
		ex, err := os.ReadFile(main)
		require.NoError(t, err)
		require.NotEqual(t, orig, ex)
		msg, err := w.MakeExercise(step, false)
		require.NoError(t, err)
		require.Equal(t, step+"/main.go is already the exercise", msg)

		_, err = w.RestoreSolution(step, false)
		require.NoError(t, err)
		got, err := os.ReadFile(main)
		require.NoError(t, err)
		require.Equal(t, string(orig), string(got), "%s: make solution did not restore main.go", step)

		// A student's work: refused without force, kept with it.
		_, err = w.MakeExercise(step, false)
		require.NoError(t, err)
		work := append(append([]byte{}, ex...), "// my work\n"...)
		require.NoError(t, os.WriteFile(main, work, 0o644))
		_, err = w.RestoreSolution(step, false)
		require.ErrorContains(t, err, "has changes since make exercise")
		_, err = w.MakeExercise(step, false)
		require.ErrorContains(t, err, "has changes since make exercise")
		cur, _ := os.ReadFile(main)
		require.Equal(t, work, cur, "a refusal changed main.go")
		msg, err = w.RestoreSolution(step, true)
		require.NoError(t, err)
		require.Contains(t, msg, "your previous main.go is in "+StateDir+"/"+step+"/backup-")
		got, _ = os.ReadFile(main)
		require.Equal(t, string(orig), string(got))
		require.Equal(t, [][]byte{work}, backups(t, w, step))
	}
}

// With no saved state (a fresh clone, .course removed), make solution takes
// main.go from git's HEAD.
func TestSolutionFromGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.22\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "01-x"), 0o755))
	main := filepath.Join(root, "01-x", "main.go")
	orig := "package main\n\nfunc main() {\n\t// exercise: x\n\tprintln()\n\t// end exercise\n}\n"
	require.NoError(t, os.WriteFile(main, []byte(orig), 0o644))
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "x")
	w := Workspace{Root: root}
	_, err := w.MakeExercise("01-x", false)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(filepath.Join(root, StateDir)))
	_, err = w.MakeExercise("01-x", false)
	require.ErrorContains(t, err, "has no exercise markers")
	// The exercise untouched: nothing to keep.
	_, err = w.RestoreSolution("01-x", false)
	require.NoError(t, err)
	got, _ := os.ReadFile(main)
	require.Equal(t, orig, string(got))
	require.Empty(t, backups(t, w, "01-x"))

	// Worked on: refused, then kept.
	_, err = w.MakeExercise("01-x", false)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(filepath.Join(root, StateDir)))
	f, err := os.OpenFile(main, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	f.WriteString("// my work\n")
	f.Close()
	_, err = w.RestoreSolution("01-x", false)
	require.ErrorContains(t, err, "has changes since make exercise")
	_, err = w.RestoreSolution("01-x", true)
	require.NoError(t, err)
	got, _ = os.ReadFile(main)
	require.Equal(t, orig, string(got))
	require.Len(t, backups(t, w, "01-x"), 1)
}

// TestCheckExerciseFailsSolutionPasses is the course's promise: make check
// fails on every step's exercise and passes on its solution. It runs every
// marked step's privileged tests twice (as root, in a copy of the workspace,
// so the real tree is never left as an exercise). On the exercise it stops
// at the first failing test (-failfast): a missing namespace can make a test
// wait out a timeout. About 35-45 s for steps 01 to 08 on a 2-core machine,
// mostly compiling test binaries. Skipped with -short and without root.
func TestCheckExerciseFailsSolutionPasses(t *testing.T) {
	w, steps := everyStep(t, "runs every step's tests twice")
	for _, step := range steps {
		_, err := w.MakeExercise(step, false)
		require.NoError(t, err)
		var out strings.Builder
		ok, err := w.Check(step, &out, "-failfast")
		require.NoError(t, err)
		require.False(t, ok, "make check passes on the exercise of %s:\n%s", step, out.String())
		// One verdict, from a test of the kernel's view, not a transcript.
		require.Equal(t, 1, strings.Count(out.String(), "  FAIL  "), "%s:\n%s", step, out.String())
		require.NotContains(t, out.String(), "FAIL  transcript", step)
		require.NotContains(t, out.String(), "does not compile", step)
		t.Logf("exercise:\n%s", out.String())

		_, err = w.RestoreSolution(step, false)
		require.NoError(t, err)
		out.Reset()
		ok, err = w.Check(step, &out)
		require.NoError(t, err)
		require.True(t, ok, "make check fails on the solution of %s:\n%s", step, out.String())
		// As root nothing fails; a check may skip for want of another kind
		// of host (08-cgroup's delegated cgroup needs a cgroup v2 one).
		require.Regexp(t, `\n`+step+`: (all \d+ checks pass|\d+ checks pass, \d+ skipped \(each says what host it needs\))\n$`, out.String())
	}
}

func backups(t *testing.T, w Workspace, step string) [][]byte {
	files, err := filepath.Glob(filepath.Join(w.Root, StateDir, step, "backup-*.go"))
	require.NoError(t, err)
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func realWorkspace(t *testing.T) Workspace {
	w, err := FindWorkspace(".")
	require.NoError(t, err)
	return w
}

// everyStep is the start of a test that runs every marked step's tests, as
// root, in a copy of the workspace: the copy, and its steps
// (TINCAN_COURSE_STEPS="05-pid 07-pivotroot" to try a few). what says how
// long it takes, for the -short skip.
func everyStep(t *testing.T, what string) (Workspace, []string) {
	if testing.Short() {
		t.Skip(what + ": skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: make test SUDO=1, or run as root (go test -exec sudo ./...)")
	}
	w := copyWorkspace(t)
	steps := markedSteps(t, w)
	if only := os.Getenv("TINCAN_COURSE_STEPS"); only != "" {
		steps = strings.Fields(only)
	}
	return w, steps
}

// markedSteps lists w's steps whose main.go has exercise markers; steps 01
// to 05 must be among them.
func markedSteps(t *testing.T, w Workspace) []string {
	steps, err := w.Steps()
	require.NoError(t, err)
	var marked []string
	for _, s := range steps {
		b, err := os.ReadFile(filepath.Join(w.Root, s, "main.go"))
		require.NoError(t, err)
		if HasMarkers(b) {
			marked = append(marked, s)
		}
	}
	require.Subset(t, marked, []string{"01-net", "02-mnt", "03-uts", "04-ipc", "05-pid"})
	return marked
}

// copyWorkspace copies pkg and the marked steps of the real workspace into a
// temporary directory, with a go.work of their own.
func copyWorkspace(t *testing.T) Workspace {
	real := realWorkspace(t)
	root := t.TempDir()
	mods := append([]string{"pkg"}, markedSteps(t, real)...)
	for _, m := range mods {
		require.NoError(t, copyTree(filepath.Join(real.Root, m), filepath.Join(root, m)))
	}
	// The real go.work's go line.
	b, err := os.ReadFile(filepath.Join(real.Root, "go.work"))
	require.NoError(t, err)
	goLine, _, _ := strings.Cut(string(b), "\n")
	require.True(t, strings.HasPrefix(goLine, "go "), "go.work does not begin with its go line: %q", goLine)
	work := goLine + "\n\nuse (\n"
	for _, m := range mods {
		work += "\t./" + m + "\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "go.work"), []byte(work+")\n"), 0o644))
	return Workspace{Root: root}
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm()) // keep x: testdata holds scripts
	})
}

// Every process a check starts inherits the address-space cap.
func TestLimitMemory(t *testing.T) {
	require.NoError(t, limitMemory())
	out, err := exec.Command("sh", "-c", "ulimit -v").Output()
	require.NoError(t, err)
	if got := strings.TrimSpace(string(out)); got != "unlimited" {
		kib, err := strconv.Atoi(got)
		require.NoError(t, err)
		require.LessOrEqual(t, kib, MemoryLimit/1024)
	} else {
		t.Fatal("ulimit -v is unlimited after limitMemory")
	}
}

// The Makefile's targets reach the tool with the right arguments: STEP, and
// FORCE=1 as -force.
func TestMakeTargets(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	if testing.Short() {
		t.Skip("builds the tool: skipped with -short")
	}
	w := copyWorkspace(t)
	real := realWorkspace(t)
	makefile, err := os.ReadFile(filepath.Join(real.Root, "Makefile"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(w.Root, "Makefile"), makefile, 0o644))
	run := func(args ...string) (string, error) {
		cmd := exec.Command("make", append([]string{"-s"}, args...)...)
		cmd.Dir = w.Root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	main := filepath.Join(w.Root, "04-ipc", "main.go")
	orig, err := os.ReadFile(main)
	require.NoError(t, err)

	out, err := run("exercise", "STEP=04-ipc")
	require.NoError(t, err, out)
	require.Contains(t, out, "04-ipc/main.go is now the exercise")
	require.NoError(t, os.WriteFile(main, []byte("package main\n"), 0o644))
	out, err = run("solution", "STEP=04-ipc")
	require.Error(t, err)
	require.Contains(t, out, "FORCE=1")
	out, err = run("solution", "STEP=04-ipc", "FORCE=1")
	require.NoError(t, err, out)
	got, _ := os.ReadFile(main)
	require.Equal(t, string(orig), string(got))

	out, err = run("diff", "STEP=04-ipc")
	require.NoError(t, err, out)
	require.Contains(t, out, "+++ 04-ipc/main.go")
	out, err = run("exercise")
	require.Error(t, err)
	require.Contains(t, out, "which step? make exercise STEP=05-pid")
}
