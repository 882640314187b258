// Package step is the command line all the lessons share, so that each
// lesson's main.go holds only what that lesson teaches:
//
//	NN-name [flags] [--] [CMD [ARG...]]
//
// CMD defaults to /bin/sh, stdio is inherited and the exit status is CMD's, or
// Docker's codes when the step itself fails (125), CMD cannot be executed (126)
// or is not found (127). Every step takes -v to trace its kernel calls.
//
// The same program runs twice: once on the host (the parent) and once,
// re-executed, inside the new namespaces (the child). Both parse the same
// flags from the same argv, so the child knows everything the user asked.
package step

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"tincan.dev/pkg/reexec"
	"tincan.dev/pkg/trace"
)

// Parent is a lesson's host side: it sets the clone flags on cmd, does its own
// part around the child, and returns CMD's exit code.
type Parent func(cmd *reexec.Cmd) (int, error)

// Child is a lesson's container side: it sets up what the lesson teaches and
// ends with reexec.Exec(args).
type Child func(args []string) error

// Main parses the flags, then runs parent on the host, or child when this
// process is the re-executed child. It never returns.
func Main(name, usage string, parent Parent, child Child) {
	flag.CommandLine.Init(name, flag.ContinueOnError)
	// A mistyped flag gets one line naming it, not the whole usage: the flag
	// package would print both to its output, so that goes nowhere; the
	// error comes back as one line, the usage only for --help, to stdout.
	flag.CommandLine.SetOutput(io.Discard)
	verbose := flag.Bool("v", false, "trace each kernel call (same as TINCAN_TRACE=1)")
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Printf("usage: %s %s\n", name, usage)
			flag.CommandLine.SetOutput(os.Stdout)
			flag.PrintDefaults()
			os.Exit(0)
		}
		Exit(name, 0, fmt.Errorf("%w (see %s --help)", err, name))
	}
	if *verbose {
		trace.Enable()
	}
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"/bin/sh"}
	}
	if reexec.IsChild() {
		reexec.RunChild(func() error { return child(args) })
	}
	cmd := reexec.Command(os.Args...)
	// Catch ^C and kill from now, before the child exists: Wait passes them
	// on, and the lesson's cleanup (a cgroup, a veth) still runs after it.
	// Caught only at Wait, a ^C during setup would end us with the child
	// and what we made for it left behind.
	cmd.Signals = reexec.Notify()
	// Without root, Start adds a user namespace that maps us to root in it,
	// unless the lesson makes its own (06-user), and says so once.
	cmd.Rootless = true
	cmd.RootlessNote = name + ": not root: also creating a user namespace, see 06-user"
	code, err := parent(cmd)
	Exit(name, code, err)
}

// Exit ends the program: with code, or when err is set, with one line naming
// the step and the error's exit code (125 unless the error carries another).
func Exit(name string, code int, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(reexec.Code(err))
	}
	os.Exit(code)
}

// List is a flag that may be given more than once, each value added in
// order: flag.Var(&tmpfs, "tmpfs", "...") with var tmpfs step.List makes
// --tmpfs /a --tmpfs /b the list [/a /b]. can uses it too.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set adds s, as the flag package calls it for each occurrence.
func (l *List) Set(s string) error { *l = append(*l, s); return nil }
