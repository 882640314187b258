package course

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"
)

// A Verdict is one check, said the way a student needs it: what works (OK),
// or what is wrong and what the kernel needs (Fail).
type Verdict struct{ OK, Fail string }

// Result is how one check of a step ended.
type Result struct {
	Status string // "ok", "FAIL" or "skip"
	Text   string // the verdict
	Detail string // the test's own message: why it failed or was skipped
}

// Check runs step's tests (go test -json), writes one line per check to out,
// and reports whether all passed. Without root the tests run as the user: the
// rootless ones run, the others say why they skip; through sudo only when
// asked (TINCAN_SUDO=1, what make check SUDO=1 sets). flags go to go test
// (the course's own test passes -failfast).
func (w Workspace) Check(step string, out io.Writer, flags ...string) (bool, error) {
	if _, err := w.step(step); err != nil {
		return false, err
	}
	args := append([]string{"test", "-json", "-count=1", "-p", "1"}, flags...)
	if os.Geteuid() != 0 && os.Getenv("TINCAN_SUDO") == "1" {
		args = append(args, "-exec", "sudo")
	}
	if err := limitMemory(); err != nil {
		return false, err
	}
	// Building the tests takes a while: say what is going on first.
	fmt.Fprintf(out, "== %s\n        building and running its tests...\n", step)
	cmd := exec.Command(GoTool(), append(args, "./...")...)
	cmd.Dir = filepath.Join(w.Root, step)
	// A check started from inside a test sandbox must not believe it is
	// already in one: it would set up its sandbox in the wrong namespaces.
	// Empty reads as unset, and os/exec keeps the last value of a key.
	cmd.Env = append(os.Environ(), "TINCAN_TEST_SANDBOX=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return false, err
	}
	results := Results(step, stdout)
	cmd.Wait()
	// Before Go 1.24 go test -json left the compiler's errors on stderr.
	if errs := compileErrors(lines(stderr.String())); strings.Contains(errs, ".go:") && !anyText(results, compileFailed) {
		results = append([]Result{{Status: "FAIL", Text: compileFailed, Detail: errs}}, results...)
	}
	if len(results) == 0 {
		results = []Result{{Status: "FAIL", Text: "the tests did not run", Detail: lastLines(stderr.String(), 5)}}
	}
	failed, skipped := 0, 0
	for _, r := range results {
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
	}
	if failed > 0 {
		if slices.Contains(flags, "-failfast") {
			fmt.Fprintf(out, "%s: a check fails, and the ones after it did not run: fix it, then make check again\n", step)
		} else {
			fmt.Fprintf(out, "%s: %d of %d checks fail\n", step, failed, len(results))
		}
		return false, nil
	}
	if skipped > 0 {
		fmt.Fprintf(out, "%s: %d checks pass, %d skipped (make check SUDO=1, or as root, runs them)\n", step, len(results)-skipped, skipped)
		return true, nil
	}
	fmt.Fprintf(out, "%s: all %d checks pass\n", step, len(results))
	return true, nil
}

// event is one line of go test -json (go doc test2json).
type event struct {
	Action, Test, Output string
}

type testRun struct {
	name   string
	action string
	output []string
}

// Results reads go test -json output for step and turns each top-level test
// (and each transcript file) into a verdict, in the order the tests ran.
func Results(step string, r io.Reader) []Result {
	var order []*testRun
	runs := map[string]*testRun{}
	var build []string
	pkgFailed := false
	var pkgOutput []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch {
		case e.Action == "build-output":
			build = append(build, lines(e.Output)...)
		case e.Test == "":
			if e.Action == "fail" {
				pkgFailed = true
			}
			if e.Action == "output" {
				for _, l := range lines(e.Output) {
					// go test's own summary lines say nothing new
					if l = strings.TrimSpace(l); l != "" && l != "PASS" && l != "FAIL" && !strings.HasPrefix(l, "FAIL\t") && !strings.HasPrefix(l, "ok ") {
						pkgOutput = append(pkgOutput, l)
					}
				}
			}
		default:
			t := runs[e.Test]
			if t == nil {
				t = &testRun{name: e.Test}
				runs[e.Test] = t
				order = append(order, t)
			}
			switch e.Action {
			case "output":
				t.output = append(t.output, lines(e.Output)...)
			case "pass", "fail", "skip":
				t.action = e.Action
			}
		}
	}
	var results []Result
	if len(build) > 0 {
		results = append(results, Result{Status: "FAIL", Text: compileFailed, Detail: compileErrors(build)})
	}
	for _, t := range order {
		parent, sub, isSub := strings.Cut(t.name, "/")
		if isSub && parent != "TestTranscripts" {
			continue // part of its parent's verdict
		}
		if !isSub && parent == "TestTranscripts" && hasSubtests(runs, parent) && t.action != "skip" {
			continue // one line per transcript instead
		}
		v, detail := verdictFor(step, parent), message(t.output)
		if isSub {
			detail = transcriptDiff(t.output)
			v = Verdict{OK: "transcript " + sub + ".ct", // sub is testdata/NAME
				Fail: "transcript " + sub + ".ct: the output differs: make test STEP=" + step + " shows how"}
		}
		switch t.action {
		case "pass":
			results = append(results, Result{Status: "ok", Text: v.OK})
		case "skip":
			results = append(results, Result{Status: "skip", Text: v.OK, Detail: detail})
		default: // fail, or never finished (the test binary died)
			if strings.HasSuffix(v.Fail, detail) {
				detail = ""
			}
			results = append(results, Result{Status: "FAIL", Text: v.Fail, Detail: detail})
		}
	}
	if pkgFailed && len(results) == 0 {
		results = append(results, Result{Status: "FAIL", Text: "the tests did not run", Detail: lastLines(strings.Join(pkgOutput, "\n"), 5)})
	} else if pkgFailed && !anyFailed(results) {
		// Every test passed, yet the run failed: the sandbox found a leak.
		// Its report starts with the line that says so.
		for i, l := range pkgOutput {
			if strings.Contains(l, "left these on the host") {
				pkgOutput = pkgOutput[i+1:]
				break
			}
		}
		if len(pkgOutput) > 6 {
			pkgOutput = append(pkgOutput[:5], "...")
		}
		results = append(results, Result{Status: "FAIL", Text: "the step left something on the host (a mount, a link, a cgroup)",
			Detail: strings.Join(pkgOutput, "\n")})
	}
	return results
}

// lines splits an event's output: one event may carry several lines.
// go-cmp's diffs use no-break spaces at random, so that no one parses them;
// we only read them, as spaces.
func lines(s string) []string {
	s = strings.ReplaceAll(s, "\u00a0", " ")
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func hasSubtests(runs map[string]*testRun, parent string) bool {
	for name := range runs {
		if strings.HasPrefix(name, parent+"/") {
			return true
		}
	}
	return false
}

const compileFailed = "main.go does not compile"

func anyText(rs []Result, text string) bool {
	for _, r := range rs {
		if r.Text == text {
			return true
		}
	}
	return false
}

func anyFailed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == "FAIL" {
			return true
		}
	}
	return false
}

var (
	// testify's "Messages:" and "Error:" lines, and t.Errorf's "file.go:12: text".
	messagesLine = regexp.MustCompile(`^\s*Messages:\s*(.*)$`)
	errorLine    = regexp.MustCompile(`^\s*Error:\s*(.*)$`)
	logLine      = regexp.MustCompile(`^\s*\w+\.go:\d+: (.+)$`)
)

// message picks the most telling line of a test's output: testify's message,
// else its error (with the two lines after "Not equal:"), else the first line
// the test logged.
func message(output []string) string {
	for _, re := range []*regexp.Regexp{messagesLine, errorLine, logLine} {
		for i, l := range output {
			m := re.FindStringSubmatch(l)
			if m == nil || strings.TrimSpace(m[1]) == "" {
				continue
			}
			msg := strings.TrimSpace(m[1])
			if re == errorLine && strings.HasSuffix(msg, ":") {
				for j := i + 1; j < len(output) && j <= i+2; j++ {
					msg += " " + strings.TrimSpace(output[j])
				}
			}
			return msg
		}
	}
	return ""
}

// transcriptDiff shortens go-cmdtest's report on a transcript to the first
// command that went wrong and its lines that differ ("want: box", "got:
// tincan-test"), at most 8 lines. A diff within lines (go-cmp's strings.Join
// form) is left out: it reads badly outside a test log.
func transcriptDiff(output []string) string {
	var out []string
	seen, inLine := false, false
	for _, l := range output {
		t := strings.TrimSpace(l)
		if m := logLine.FindStringSubmatch(l); m != nil {
			t = strings.TrimSuffix(strings.TrimSpace(m[1]), " Output:")
			if seen {
				break // the next command: one is enough
			}
			seen = true
			if strings.HasSuffix(t, "want=-, got=+") {
				continue
			}
		}
		switch {
		case t == "" || strings.HasPrefix(t, "[]string") || t == ")" || strings.HasPrefix(t, "}") || strings.HasPrefix(t, "...") ||
			strings.HasPrefix(t, "--- ") || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, `"`):
			// go-cmp's frame, and the lines that did not change
		case strings.HasPrefix(t, "strings.Join("):
			inLine = true
		case strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "+ "):
			if inLine {
				continue
			}
			label := map[byte]string{'-': "want: ", '+': "got:  "}[t[0]]
			q := strings.TrimSuffix(strings.TrimSpace(t[2:]), ",")
			if u, err := strconv.Unquote(q); err == nil {
				q = u
			}
			out = append(out, label+q)
		default:
			out = append(out, t)
		}
	}
	if len(out) > 8 {
		out = out[:8]
	}
	return strings.Join(out, "\n")
}

// compileErrors keeps the compiler's error lines, at most five.
func compileErrors(lines []string) string {
	var errs []string
	for _, l := range lines {
		if strings.Contains(l, ".go:") && len(errs) < 5 {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	if len(errs) == 0 {
		return lastLines(strings.Join(lines, "\n"), 5)
	}
	return strings.Join(errs, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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

// verdictFor looks test up in the step's table, then in the table every step
// shares, and otherwise names the check after the test.
func verdictFor(step, test string) Verdict {
	v, ok := Verdicts[step][test]
	if !ok {
		v, ok = Verdicts["*"][test]
	}
	if !ok {
		v.OK = Humanize(test)
	}
	if v.Fail == "" {
		v.Fail = v.OK
	}
	v.Fail = strings.ReplaceAll(v.Fail, "STEP", step)
	return v
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
