package course

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"
)

// Result is how one check of a step ended.
type Result struct {
	Status string // "ok", "FAIL" or "skip"
	Text   string // the verdict: the test's own sentence
	Detail string // more lines the test gave, or why it was skipped
}

// Check runs step's tests and writes one line per check to out as each
// test ends, and reports whether all passed. The lines are the tests' own
// sentences (pkg/testenv's Verdict and Check): Check reads nothing else of
// their output. go vet runs first, so that a main.go that does not compile
// is one line, the compiler's first. Without root the tests run as the
// user: the rootless ones run, the others say why they skip; through sudo
// only when asked (TINCAN_SUDO=1, what make check SUDO=1 sets). flags go
// to go test (make check passes -failfast: one missing call, one verdict).
func (w Workspace) Check(step string, out io.Writer, flags ...string) (bool, error) {
	if _, err := w.step(step); err != nil {
		return false, err
	}
	if err := limitMemory(); err != nil {
		return false, err
	}
	dir := filepath.Join(w.Root, step)
	fmt.Fprintf(out, "== %s\n        building...\n", step)
	vet := exec.Command(GoTool(), "vet", "./...")
	vet.Dir = dir
	if b, err := vet.CombinedOutput(); err != nil {
		first := ""
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				first = l
				break
			}
		}
		fmt.Fprintf(out, "%6s  %s does not compile: go vet says\n        %s\n", "FAIL", step, first)
		fmt.Fprintf(out, "%s: fix main.go, then make check again\n", step)
		return false, nil
	}
	fmt.Fprintf(out, "        running its tests (a line as each ends)...\n")

	// A check started from inside a test sandbox must not believe it is
	// already in one: it would set up its sandbox in the wrong namespaces.
	// Empty reads as unset, and os/exec keeps the last value of a key.
	env := []string{SayEnv + "=1", "TINCAN_TEST_SANDBOX="}
	// TestEngines (09-full) drives podman, containerd and Docker against
	// can's OCI mode: can's own test, not the exercise's, and a minute long.
	args := append([]string{"test", "-json", "-count=1", "-p", "1", "-skip", "^TestEngines$"}, flags...)
	if os.Geteuid() != 0 && os.Getenv("TINCAN_SUDO") == "1" {
		// sudo resets the environment: env(1) sets it again, as root.
		args = append(args, "-exec", "sudo env "+strings.Join(env, " "))
	}
	cmd := exec.Command(GoTool(), append(args, "./...")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	if err := cmd.Start(); err != nil {
		return false, err
	}
	failed, skipped, total := 0, 0, 0
	readResults(step, stdout, func(r Result) {
		total++
		fmt.Fprintf(out, "%6s  %s\n", r.Status, r.Text)
		if r.Detail != "" && r.Status != "ok" {
			for _, l := range strings.Split(r.Detail, "\n") {
				fmt.Fprintf(out, "        %s\n", l)
			}
		}
		switch r.Status {
		case "FAIL":
			failed++
		case "skip":
			skipped++
		}
	})
	cmd.Wait()
	switch {
	case total == 0:
		fmt.Fprintf(out, "%6s  the tests did not run: make test STEP=%s shows why\n", "FAIL", step)
		return false, nil
	case failed > 0 && slices.Contains(flags, "-failfast"):
		fmt.Fprintf(out, "%s: a check fails, and the ones after it did not run: fix it, then make check again\n", step)
		return false, nil
	case failed > 0:
		fmt.Fprintf(out, "%s: %d of %d checks fail\n", step, failed, total)
		return false, nil
	case skipped > 0 && os.Geteuid() != 0:
		fmt.Fprintf(out, "%s: %d checks pass, %d skipped (make check SUDO=1, or as root, runs them)\n", step, total-skipped, skipped)
		return true, nil
	case skipped > 0:
		// As root, what skips needs another kind of host (each skip said
		// which): a cgroup v2 one, say.
		fmt.Fprintf(out, "%s: %d checks pass, %d skipped (each says what host it needs)\n", step, total-skipped, skipped)
		return true, nil
	}
	fmt.Fprintf(out, "%s: all %d checks pass\n", step, total)
	return true, nil
}

// event is one line of go test -json (go doc test2json).
type event struct {
	Action, Package, Test, Output string
}

// test is what one test said, and how its subtests went.
type test struct {
	Said
	printedSubs, subFailed bool
	ended                  bool
}

// Results reads go test -json output for step and returns a verdict per
// test, in the order the tests ended (see readResults).
func Results(step string, r io.Reader) []Result {
	var rs []Result
	readResults(step, r, func(res Result) { rs = append(rs, res) })
	return rs
}

// readResults reads go test -json output and calls each with a verdict as
// each top-level test ends, and for each subtest that said a verdict of its
// own (a transcript file). The words are the tests' own, from their
// verdict lines (Said); a test that said none is named after itself.
func readResults(step string, r io.Reader, each func(Result)) {
	tests := map[string]*test{}
	var order []string // tests in the order they started
	get := func(pkg, name string) *test {
		k := pkg + "\x00" + name
		if tests[k] == nil {
			tests[k] = &test{}
			order = append(order, k)
		}
		return tests[k]
	}
	var whole []Said // what the run said of itself (testenv.Main)
	buildFailed, anyFailed := false, false
	emit := func(res Result) {
		if res.Status == "FAIL" {
			anyFailed = true
		}
		each(res)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch e.Action {
		case "build-fail":
			buildFailed = true
		case "output":
			s, ok := parseSaid(e.Output)
			switch {
			case !ok:
			case s.Test == "":
				whole = append(whole, s)
			default:
				t := get(e.Package, s.Test)
				t.Said = merge(t.Said, s)
			}
		case "run":
			get(e.Package, e.Test)
		case "pass", "fail", "skip":
			if e.Test == "" {
				continue
			}
			t := get(e.Package, e.Test)
			t.ended = true
			top, _, isSub := strings.Cut(e.Test, "/")
			parent := get(e.Package, top)
			if isSub {
				switch {
				case t.OK != "": // a verdict of its own
					parent.printedSubs = true
					parent.subFailed = parent.subFailed || e.Action == "fail"
					emit(result(step, e.Test, e.Action, t.Said))
				case e.Action == "fail" && t.Fail != "" && parent.Fail == "":
					parent.Fail = t.Fail // the parent's verdict
				}
				continue
			}
			if t.printedSubs && t.OK == "" && (e.Action != "fail" || t.subFailed) {
				continue // its subtests said it all
			}
			emit(result(step, e.Test, e.Action, t.Said))
		}
	}
	for _, k := range order {
		_, name, _ := strings.Cut(k, "\x00")
		if t := tests[k]; !t.ended && !strings.Contains(name, "/") {
			t.Fail = "the test did not end: the test binary died (make test STEP=" + step + " shows how)"
			emit(result(step, name, "fail", t.Said))
		}
	}
	for _, s := range whole {
		if s.Fail != "" {
			text, detail, _ := strings.Cut(s.Fail, "\n")
			emit(Result{Status: "FAIL", Text: text, Detail: detail})
		}
	}
	if buildFailed && !anyFailed {
		emit(Result{Status: "FAIL", Text: "the tests do not build: go vet in " + step + " shows why"})
	}
}

// merge adds what a test said now to what it said before.
func merge(old, s Said) Said {
	if s.OK != "" {
		old.OK = s.OK
	}
	if s.Else != "" {
		old.Else = s.Else
	}
	if s.Fail != "" && old.Fail == "" { // the first failure is the one
		old.Fail = s.Fail
	}
	if s.Skip != "" {
		old.Skip = s.Skip
	}
	return old
}

// result is the verdict on test, which ended with action.
func result(step, test, action string, s Said) Result {
	ok := s.OK
	if ok == "" {
		ok = Humanize(strings.ReplaceAll(test, "/", " "))
	}
	switch action {
	case "pass":
		return Result{Status: "ok", Text: ok}
	case "skip":
		return Result{Status: "skip", Text: ok, Detail: s.Skip}
	}
	why := s.Fail
	hint := ""
	if why == "" {
		why = s.Else
		hint = "the test stopped before it said why: make test STEP=" + step + " TESTFLAGS='-run ^" + test + "$' shows its log"
	}
	if why == "" {
		why = ok + ": fails"
	}
	text, detail, _ := strings.Cut(why, "\n")
	if hint != "" {
		detail = strings.TrimPrefix(detail+"\n"+hint, "\n")
	}
	return Result{Status: "FAIL", Text: text, Detail: detail}
}

// MemoryLimit is the most address space any process of a check may have.
const MemoryLimit = 4 << 30

// limitMemory caps this process's address space (RLIMIT_AS, setrlimit(2)),
// which every process go test starts inherits. An exercise with its limits
// cut out (08-cgroup without its cgroup) still runs its tests' memory hog:
// the cap makes the hog fail at 4 GiB instead of filling the machine. The
// kernel counts virtual memory, so the cap is generous: Go's compiler and
// test binaries stay far below it.
func limitMemory() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &lim); err != nil {
		return err
	}
	if lim.Cur <= MemoryLimit {
		return nil
	}
	lim.Cur = MemoryLimit
	if lim.Max < lim.Cur {
		lim.Cur = lim.Max
	}
	return unix.Setrlimit(unix.RLIMIT_AS, &lim)
}

// GoTool finds go even under sudo, whose PATH often lacks it (secure_path):
// then it is the go that built this program. pkg/testenv builds with it too.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Humanize names a check after its test: TestPsAuxShowsOnlyPID1 is
// "ps aux shows only PID1", TestPIDNamespace "PID namespace".
func Humanize(test string) string {
	name := []rune(strings.TrimPrefix(test, "Test"))
	var words []string
	start := 0
	for i := 1; i <= len(name); i++ {
		if i < len(name) && !wordBreak(name, i) {
			continue
		}
		w := string(name[start:i])
		if len(w) > 1 && unicode.IsUpper(name[start]) && unicode.IsLower(name[start+1]) {
			w = strings.ToLower(w) // a word, not an acronym
		} else if len(w) == 1 {
			w = strings.ToLower(w)
		}
		words = append(words, w)
		start = i
	}
	return strings.Join(words, " ")
}

// wordBreak: "aB" breaks before B; "ABc" breaks before B (PIDNamespace).
func wordBreak(s []rune, i int) bool {
	if !unicode.IsUpper(s[i]) {
		return false
	}
	if unicode.IsLower(s[i-1]) || unicode.IsDigit(s[i-1]) {
		return true
	}
	return i+1 < len(s) && unicode.IsLower(s[i+1])
}
