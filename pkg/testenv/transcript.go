package testenv

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmdtest"
	"github.com/stretchr/testify/require"

	"tincan.dev/pkg/course"
)

var update = flag.Bool("update", false, "rewrite testdata/*.ct with the output the commands print now")

// Transcripts runs the go-cmdtest files in testdata. Each program named in
// progs (found in Bin, then in $PATH) may start a command line.
//
// One more command is built in, for servers: "bg HOST:PORT PROG ARGS..."
// starts PROG in the background, as "PROG ARGS... &" would, and waits until
// HOST:PORT accepts a TCP connection; it prints nothing. What bg started is
// killed when the transcript file ends.
func Transcripts(t *testing.T, progs ...string) {
	t.Helper()
	ts, err := cmdtest.Read("testdata")
	require.NoError(t, err)
	// go-cmdtest runs each file as a subtest named after it: each is a
	// verdict of its own.
	files, err := filepath.Glob("testdata/*.ct")
	require.NoError(t, err)
	for _, f := range files {
		say(course.Said{Test: t.Name() + "/" + strings.TrimSuffix(f, ".ct"), OK: "transcript " + f,
			Else: "transcript " + f + ": the output differs from the file: make test STEP=" + stepDir() + " shows how"})
	}
	paths := map[string]string{}
	for _, p := range progs {
		path := filepath.Join(Bin, p)
		if _, err := os.Stat(path); Bin == "" || err != nil {
			path, err = exec.LookPath(p)
			require.NoError(t, err, "transcript program %s", p)
		}
		paths[p] = path
		ts.Commands[p] = cmdtest.Program(path)
	}
	var background []*exec.Cmd
	stop := func() {
		for _, c := range background {
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
		}
		background = nil
	}
	t.Cleanup(stop)
	ts.Setup = func(string) error { stop(); return nil } // a new file begins
	ts.Commands["bg"] = func(args []string, _ string) ([]byte, error) {
		if len(args) < 2 {
			return nil, errors.New("usage: bg HOST:PORT PROG [ARG]...: too few arguments")
		}
		path, ok := paths[args[1]]
		if !ok {
			return nil, fmt.Errorf("bg: %s is not a transcript program", args[1])
		}
		c := exec.Command(path, args[2:]...)
		if err := c.Start(); err != nil {
			return nil, err
		}
		background = append(background, c)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if conn, err := net.DialTimeout("tcp", args[0], time.Second); err == nil {
				conn.Close()
				return nil, nil
			}
		}
		return nil, fmt.Errorf("bg: nothing answers on %s after 10s", args[0])
	}
	ts.Run(t, *update)
}

// DocumentedTranscripts checks that every testdata/*.ct file appears, verbatim,
// as a ```console block of the README: the docs show what the tests run.
func DocumentedTranscripts(t *testing.T, readme string) {
	t.Helper()
	Verdict(t, readme+" shows every testdata/*.ct", "")
	doc, err := os.ReadFile(readme)
	require.NoError(t, err)
	files, err := filepath.Glob("testdata/*.ct")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no transcripts in testdata")
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		block := "```console\n" + transcriptBody(string(b)) + "```\n"
		Check(t, strings.Contains(string(doc), block), "%s must appear verbatim in %s as a ```console block: put <!-- ct: %s --> there and run .tools/embed.py", f, readme, f)
	}
}

// stepDir is the step under test: the tests run in its directory.
func stepDir() string {
	wd, _ := os.Getwd()
	return filepath.Base(wd)
}

// transcriptBody drops the comments and blank lines before the first command.
func transcriptBody(s string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "$") {
			return strings.TrimRight(strings.Join(lines[i:], ""), "\n") + "\n"
		}
	}
	return ""
}
