// Command can-image pulls and imports images for can, which runs it for
// can pull and can import (see imageTool in 09-full/main.go for why it is
// a program of its own):
//
//	can pull REF --fs DIR       an image from a registry into DIR/image/0..N
//	can import FILE --fs DIR    the same from docker save or an OCI archive
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"

	"golang.org/x/sys/unix"

	"tincan.dev/pkg/image"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "pull" && os.Args[1] != "import") {
		fmt.Fprintln(os.Stderr, "usage: can pull REF --fs DIR\n       can import FILE --fs DIR")
		os.Exit(125)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "can: %v\n", err)
		os.Exit(125) // can's code for "can itself failed"
	}
}

func run(verb string, args []string) error {
	fs := flag.NewFlagSet("can "+verb, flag.ContinueOnError)
	dir := fs.String("fs", "", "the `DIR` to fill: DIR/image/0..N and DIR/image.json")
	// The flag may come after REF, as in the README: parse what follows
	// each plain argument too (flag stops at the first).
	err := fs.Parse(args)
	var what []string
	for err == nil && fs.NArg() > 0 {
		what = append(what, fs.Arg(0))
		err = fs.Parse(fs.Args()[1:])
	}
	if err != nil {
		os.Exit(125)
	}
	if len(what) != 1 || *dir == "" {
		return fmt.Errorf("usage: can %s %s --fs DIR", verb, map[string]string{"pull": "REF", "import": "FILE"}[verb])
	}
	// ^C or SIGTERM cancels the pull, which then removes what it made.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	var got *image.Pulled
	if verb == "pull" {
		got, err = image.Pull(ctx, what[0], *dir, image.Terminal(os.Stderr))
	} else {
		got, err = image.Import(ctx, what[0], *dir)
	}
	if err != nil {
		return err
	}
	c := got.Config.Config
	fmt.Printf("%s: %d layers in %s, the image's config in %s\n", what[0], got.Layers,
		filepath.Join(*dir, "image"), filepath.Join(*dir, image.ConfigFile))
	fmt.Printf("Entrypoint %q Cmd %q Env %q WorkingDir %q User %q\n", c.Entrypoint, c.Cmd, c.Env, c.WorkingDir, c.User)
	return nil
}
