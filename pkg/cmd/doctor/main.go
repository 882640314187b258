// Command doctor checks what the lessons need from this machine and prints a
// table with a fix per line (package tincan.dev/pkg/doctor). It exits 1 when
// a check fails. make doctor runs it.
package main

import (
	"os"

	"tincan.dev/pkg/doctor"
)

func main() {
	checks := doctor.Host().Run()
	doctor.Print(os.Stdout, checks)
	if doctor.Failed(checks) {
		os.Exit(1)
	}
}
