package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tincan.dev/pkg/course"
)

// Verdict declares, at the start of a test, what make check says about it:
// ok when it passes ("PID namespace: the command is PID 1"), otherwise what
// is wrong and what the kernel needs, unless a Check gave a sentence of its
// own. A test that declares none is named after itself.
func Verdict(t testing.TB, ok, otherwise string) {
	say(course.Said{Test: t.Name(), OK: ok, Else: otherwise})
}

// Check stops t unless cond, with the sentence a student should read: what
// is wrong and what the kernel needs, with the man page. make check prints
// its first line as the verdict, and the lines after it below. args format
// the sentence as fmt.Sprintf does.
func Check(t testing.TB, cond bool, sentence string, args ...any) {
	t.Helper()
	if cond {
		return
	}
	if len(args) > 0 {
		sentence = fmt.Sprintf(sentence, args...)
	}
	say(course.Said{Test: t.Name(), Fail: sentence})
	t.Fatal(sentence)
}

// Fail stops t with the sentence a student should read (see Check).
func Fail(t testing.TB, sentence string, args ...any) {
	t.Helper()
	Check(t, false, sentence, args...)
}

// CheckRan stops t unless the step exited with code, saying so with the
// step's own error: what it printed last on stderr.
func CheckRan(t testing.TB, r Result, code int) {
	t.Helper()
	if r.Code == code {
		return
	}
	last := strings.TrimSpace(r.Stderr)
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if last == "" {
		last = "(nothing on stderr)"
	}
	name := "the command"
	if len(r.Args) > 0 {
		name = filepath.Base(r.Args[0])
	}
	Fail(t, "%s exited %d, not %d: %s", name, r.Code, code, last)
}

// skip skips t, saying why to make check too.
func skip(t testing.TB, why string) {
	t.Helper()
	say(course.Said{Test: t.Name(), Skip: why})
	t.Skip(why)
}

// say tells make check, which sets course.SayEnv; a plain go test prints
// nothing more than the test's own log.
func say(s course.Said) {
	if os.Getenv(course.SayEnv) == "1" {
		course.Say(os.Stdout, s)
	}
}
