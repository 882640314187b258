package course

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// Diff shows step against the step before it: the idea from its README,
// then a unified diff of the two main.go files. The steps are one feature
// each, not cumulative, so the diff has one feature leaving and the next
// arriving. The first step has nothing before it, so its whole main.go is
// the diff.
func (w Workspace) Diff(step string) (string, error) {
	main, err := w.step(step)
	if err != nil {
		return "", err
	}
	steps, _ := w.Steps()
	prev := ""
	for i, s := range steps {
		if s == step && i > 0 {
			prev = steps[i-1]
		}
	}
	var out strings.Builder
	if idea := w.Idea(step); idea != "" {
		fmt.Fprintf(&out, "%s: %s\n\n", step, idea)
	}
	b, err := os.ReadFile(main)
	if err != nil {
		return "", err
	}
	a, from := []byte(nil), "/dev/null"
	if prev != "" {
		if a, err = os.ReadFile(filepath.Join(w.Root, prev, "main.go")); err != nil {
			return "", err
		}
		from = prev + "/main.go"
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(a)), B: difflib.SplitLines(string(b)),
		FromFile: from, ToFile: step + "/main.go", Context: 3,
	})
	if err != nil {
		return "", err
	}
	out.WriteString(d)
	return out.String(), nil
}

// Idea is the paragraph of step's README that starts "**The idea.**", on one
// line, or "" when there is none.
func (w Workspace) Idea(step string) string {
	b, err := os.ReadFile(filepath.Join(w.Root, step, "README.md"))
	if err != nil {
		return ""
	}
	const lead = "**The idea.**"
	s := string(b)
	i := strings.Index(s, lead)
	if i < 0 {
		return ""
	}
	para, _, _ := strings.Cut(s[i+len(lead):], "\n\n")
	return strings.Join(strings.Fields(para), " ")
}
