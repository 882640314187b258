// Package course turns the lessons into a class: a step's main.go with its
// feature cut out (the exercise), the original put back (the solution), a check
// that says in words what the kernel does and does not see yet, and each step
// shown as a diff against the one before. The commands are in pkg/cmd/course;
// the Makefile runs them as make exercise, solution, check and diff.
//
// # Markers
//
// A step's author marks the lines a student must write with two comment lines,
// each alone on its line, at the indentation of the code they enclose:
//
//	// exercise: make a new PID namespace: CLONE_NEWPID in Cloneflags, pid_namespaces(7)
//	cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWPID | unix.CLONE_NEWNS
//	// end exercise
//
// The text after "exercise:" is the hint: what the kernel needs and the man
// page that says so. make exercise replaces each marked block, markers
// included, by one line
//
//	// TODO(exercise): make a new PID namespace: CLONE_NEWPID in Cloneflags, pid_namespaces(7)
//
// A step may have several blocks (say one in parent, one in child). Mark whole
// statements, so the rest still compiles without them; imports that only the
// marked lines used are removed (gopls or goimports puts them back as the
// student types). The tests in this package build every step's exercise, so a
// block that breaks the build is caught there.
package course

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
)

const (
	beginMarker = "// exercise:"
	endMarker   = "// end exercise"
	todoMarker  = "// TODO(exercise):"
)

// HasMarkers reports whether src holds at least one exercise block.
func HasMarkers(src []byte) bool {
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), beginMarker) {
			return true
		}
	}
	return false
}

// Exercise returns src with every marked block replaced by its TODO line,
// without the imports that only those blocks used, formatted as gofmt would.
func Exercise(src []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(src), "\n")
	var out strings.Builder
	open := 0 // line number of the open block's marker, 0 when none
	blocks := 0
	for i, line := range lines {
		text := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(text, beginMarker):
			if open != 0 {
				return nil, fmt.Errorf("line %d: exercise block inside the one opened on line %d", i+1, open)
			}
			hint := strings.TrimSpace(strings.TrimPrefix(text, beginMarker))
			if hint == "" {
				return nil, fmt.Errorf("line %d: the exercise marker has no hint", i+1)
			}
			open = i + 1
			blocks++
			indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
			out.WriteString(indent + todoMarker + " " + hint + "\n")
		case text == endMarker:
			if open == 0 {
				return nil, fmt.Errorf("line %d: %q without an open exercise block", i+1, endMarker)
			}
			open = 0
		case open == 0:
			out.WriteString(line)
		}
	}
	if open != 0 {
		return nil, fmt.Errorf("line %d: exercise block never ends (want a line %q)", open, endMarker)
	}
	if blocks == 0 {
		return nil, fmt.Errorf("no exercise markers (a line %q)", beginMarker+" HINT")
	}
	return dropUnusedImports([]byte(out.String()))
}

// dropUnusedImports deletes the import lines of packages src no longer
// names, which the compiler would reject ("imported and not used").
func dropUnusedImports(src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "main.go", src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("the exercise does not parse: %w", err)
	}
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	drop := map[int]bool{} // line numbers
	for _, spec := range f.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		name := path.Base(p)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		if name != "_" && name != "." && !used[name] {
			drop[fset.Position(spec.Pos()).Line] = true
		}
	}
	var out bytes.Buffer
	for i, line := range strings.SplitAfter(string(src), "\n") {
		if !drop[i+1] {
			out.WriteString(line)
		}
	}
	return format.Source(out.Bytes())
}
