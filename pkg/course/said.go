package course

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// SayEnv, set to 1 in the tests' environment, makes them tell make check
// their verdicts (pkg/testenv's Verdict and Check): each as one line of the
// test's output, SayMark then a Said as JSON. make check reads those lines
// from go test -json and prints their sentences; it reads no other output.
const SayEnv = "TINCAN_VERDICTS"

// SayMark begins a verdict line.
const SayMark = "tincan-verdict: "

// Said is what a test tells make check, in a student's words.
type Said struct {
	Test string `json:"test"`           // t.Name(); empty for the whole run (testenv.Main)
	OK   string `json:"ok,omitempty"`   // what the test checks: said when it passes
	Else string `json:"else,omitempty"` // said when it fails without a sentence of its own
	Fail string `json:"fail,omitempty"` // why it failed: what is wrong, what the kernel needs
	Skip string `json:"skip,omitempty"` // why it did not run, and what runs it
}

// Say writes s as a verdict line to w.
func Say(w io.Writer, s Said) {
	b, _ := json.Marshal(s) // strings only: cannot fail
	fmt.Fprintf(w, "%s%s\n", SayMark, b)
}

// parseSaid reads a verdict line; ok is false for any other line.
func parseSaid(line string) (s Said, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(line), SayMark)
	if !found || json.Unmarshal([]byte(rest), &s) != nil {
		return Said{}, false
	}
	return s, true
}
