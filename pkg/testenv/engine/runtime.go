package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Runtime is the OCI runtime under test, seen through a logging wrapper: a
// shell script, named like the runtime (podman decides some behaviour by the
// runtime's name), that appends its argv to Log and then execs the real
// binary. exec keeps the PID, the fds and the environment the engine gave,
// so the runtime cannot tell; the log is exactly what the engine asked of it.
type Runtime struct {
	Path    string // the real binary
	Wrapper string // the script to hand to the engine
	Log     string // one line per call: the arguments, space-separated
}

// NewRuntime writes the wrapper for path into dir/bin.
func NewRuntime(t testing.TB, path, dir string) *Runtime {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(abs); err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
			err = fmt.Errorf("not an executable file")
		}
	}
	if err != nil {
		t.Fatalf("engine: runtime %s: %v (give the path of an OCI runtime such as /usr/sbin/runc or bin/can)", path, err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Runtime{Path: abs, Wrapper: filepath.Join(bin, filepath.Base(abs)), Log: filepath.Join(dir, "runtime.log")}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >>%s\nexec %s \"$@\"\n", shellQuote(r.Log), shellQuote(abs))
	if err := os.WriteFile(r.Wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

// Calls returns the logged calls, one per line.
func (r *Runtime) Calls() []string {
	b, _ := os.ReadFile(r.Log)
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
