package testenv

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmdtest"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.ct with the output the commands print now")

// Transcripts runs the go-cmdtest files in testdata. Each program named in
// progs (found in Bin, then in $PATH) may start a command line.
func Transcripts(t *testing.T, progs ...string) {
	t.Helper()
	ts, err := cmdtest.Read("testdata")
	require.NoError(t, err)
	for _, p := range progs {
		path := filepath.Join(Bin, p)
		if _, err := os.Stat(path); Bin == "" || err != nil {
			path, err = exec.LookPath(p)
			require.NoError(t, err, "transcript program %s", p)
		}
		ts.Commands[p] = cmdtest.Program(path)
	}
	ts.Run(t, *update)
}

// DocumentedTranscripts checks that every testdata/*.ct file appears, verbatim,
// as a ```console block of the README: the docs show what the tests run.
func DocumentedTranscripts(t *testing.T, readme string) {
	t.Helper()
	doc, err := os.ReadFile(readme)
	require.NoError(t, err)
	files, err := filepath.Glob("testdata/*.ct")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no transcripts in testdata")
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		block := "```console\n" + transcriptBody(string(b)) + "```\n"
		require.Contains(t, string(doc), block, "%s must appear in %s as a console block", f, readme)
	}
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
