// Command course runs the class side of the lessons (see package
// tincan.dev/pkg/course for the exercise markers):
//
//	course exercise STEP [-force]   cut the step's feature out of its main.go
//	course solution STEP [-force]   put it back, byte for byte
//	course check [STEP...]          run the step's tests, say in words what works
//	course diff [STEP...]           a step against the one before it
//
// The Makefile runs it: make exercise STEP=05-pid, make check, FORCE=1 ...
package main

import (
	"flag"
	"fmt"
	"os"

	"tincan.dev/pkg/course"
)

const usage = `usage: course exercise|solution STEP [-force]
       course check|diff [STEP...]`

func main() {
	if len(os.Args) < 2 {
		fail(usage)
	}
	verb := os.Args[1]
	flags := flag.NewFlagSet(verb, flag.ExitOnError)
	force := flags.Bool("force", false, "replace local changes to main.go (a copy is kept in "+course.StateDir+"/)")
	flags.Parse(os.Args[2:])
	w, err := course.FindWorkspace(".")
	if err != nil {
		fail(err.Error())
	}
	steps := flags.Args()
	switch verb {
	case "exercise", "solution":
		if len(steps) != 1 || steps[0] == "" {
			fail("which step? make " + verb + " STEP=05-pid")
		}
		do := w.MakeExercise
		if verb == "solution" {
			do = w.RestoreSolution
		}
		msg, err := do(steps[0], *force)
		if err != nil {
			fail(err.Error())
		}
		fmt.Println(msg)
	case "check", "diff":
		if len(steps) == 0 {
			if steps, err = w.Steps(); err != nil {
				fail(err.Error())
			}
		}
		ok := true
		for _, s := range steps {
			if verb == "diff" {
				d, err := w.Diff(s)
				if err != nil {
					fail(err.Error())
				}
				fmt.Print(d)
				continue
			}
			// -failfast: one missing call gives one verdict, not the
			// failures that follow from it.
			passed, err := w.Check(s, os.Stdout, "-failfast")
			if err != nil {
				fail(err.Error())
			}
			ok = ok && passed
		}
		if !ok {
			os.Exit(1)
		}
	default:
		fail(usage)
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "course:", msg)
	os.Exit(2)
}
