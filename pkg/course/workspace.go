package course

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// StateDir, under the workspace root, keeps what make exercise replaced:
// <step>/solution.go (main.go as it was) and <step>/exercise.go (main.go as
// handed out, to tell a student's work from it), and backup-*.go copies of
// any work FORCE=1 replaced. It is in .gitignore. On a fresh clone without it,
// make solution takes main.go from git's HEAD.
const StateDir = ".course"

// Workspace is a checkout of the course: the directory holding go.work.
type Workspace struct{ Root string }

// FindWorkspace walks up from dir to the directory that holds go.work.
func FindWorkspace(dir string) (Workspace, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Workspace{}, err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return Workspace{Root: d}, nil
		}
		if d == filepath.Dir(d) {
			return Workspace{}, fmt.Errorf("no go.work in %s or above: run this inside the course checkout", dir)
		}
	}
}

var stepName = regexp.MustCompile(`^[0-9][0-9]-[a-z0-9-]+$`)

// Steps lists the steps (NN-name directories with a main.go), in order.
func (w Workspace) Steps() ([]string, error) {
	ents, err := os.ReadDir(w.Root)
	if err != nil {
		return nil, err
	}
	var steps []string
	for _, e := range ents {
		if e.IsDir() && stepName.MatchString(e.Name()) {
			if _, err := os.Stat(filepath.Join(w.Root, e.Name(), "main.go")); err == nil {
				steps = append(steps, e.Name())
			}
		}
	}
	sort.Strings(steps)
	return steps, nil
}

// step checks that name is a step of w and returns the path of its main.go.
func (w Workspace) step(name string) (string, error) {
	steps, err := w.Steps()
	if err != nil {
		return "", err
	}
	for _, s := range steps {
		if s == name {
			return filepath.Join(w.Root, s, "main.go"), nil
		}
	}
	return "", fmt.Errorf("no step %q: the steps are %v", name, steps)
}

// readMain returns the path of step's main.go and what it holds now.
func (w Workspace) readMain(step string) (string, []byte, error) {
	main, err := w.step(step)
	if err != nil {
		return "", nil, err
	}
	cur, err := os.ReadFile(main)
	return main, cur, err
}

func (w Workspace) state(step, file string) string {
	return filepath.Join(w.Root, StateDir, step, file)
}

// MakeExercise turns step's main.go into the student's version and says what
// it did. A main.go that differs from the exercise handed out earlier is a
// student's work: it is refused unless force, which first keeps a copy.
func (w Workspace) MakeExercise(step string, force bool) (string, error) {
	main, cur, err := w.readMain(step)
	if err != nil {
		return "", err
	}
	solution, err := os.ReadFile(w.state(step, "solution.go"))
	if err == nil { // handed out before
		handedOut, _ := os.ReadFile(w.state(step, "exercise.go"))
		if bytes.Equal(cur, handedOut) {
			return step + "/main.go is already the exercise", nil
		}
		if !force {
			return "", fmt.Errorf("%s/main.go has changes since make exercise (your work?): "+
				"keep them, or run with FORCE=1 to start over (a copy goes to %s/%s/)", step, StateDir, step)
		}
	} else {
		if !HasMarkers(cur) {
			return "", fmt.Errorf("%s/main.go has no exercise markers (// exercise: HINT ... // end exercise)", step)
		}
		solution = cur
	}
	ex, err := Exercise(solution)
	if err != nil {
		return "", fmt.Errorf("%s/main.go: %w", step, err)
	}
	backup, err := w.backupIfWork(step, cur, solution)
	if err != nil {
		return "", err
	}
	if err := w.save(step, solution, ex); err != nil {
		return "", err
	}
	if err := os.WriteFile(main, ex, 0o644); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s/main.go is now the exercise: look for TODO(exercise), then make check STEP=%s%s", step, step, backup), nil
}

// RestoreSolution puts back step's main.go as it was before MakeExercise (or,
// with no saved copy, as git's HEAD has it). Changes since the exercise was
// handed out are refused unless force, which first keeps a copy.
func (w Workspace) RestoreSolution(step string, force bool) (string, error) {
	main, cur, err := w.readMain(step)
	if err != nil {
		return "", err
	}
	solution, err := os.ReadFile(w.state(step, "solution.go"))
	expect, _ := os.ReadFile(w.state(step, "exercise.go"))
	if err != nil {
		if solution, err = w.gitHead(step + "/main.go"); err != nil {
			return "", fmt.Errorf("no saved solution for %s in %s/ and no git HEAD to take it from: %w", step, StateDir, err)
		}
		expect = solution
		if ex, err := Exercise(solution); err == nil && bytes.Equal(cur, ex) {
			expect = ex // the exercise as handed out: nobody's work yet
		}
	}
	if bytes.Equal(cur, solution) {
		os.Remove(w.state(step, "solution.go"))
		os.Remove(w.state(step, "exercise.go"))
		return step + "/main.go is already the solution", nil
	}
	if !bytes.Equal(cur, expect) && !force {
		return "", fmt.Errorf("%s/main.go has changes since make exercise (your work?): "+
			"run with FORCE=1 to see the solution anyway (your file is kept in %s/%s/)", step, StateDir, step)
	}
	backup, err := w.backupIfWork(step, cur, expect)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(main, solution, 0o644); err != nil {
		return "", err
	}
	os.Remove(w.state(step, "solution.go"))
	os.Remove(w.state(step, "exercise.go"))
	return step + "/main.go is the solution again" + backup, nil
}

// backupIfWork keeps a copy of cur when it is neither of the versions the
// tool wrote (handed, solution): then it is someone's work.
func (w Workspace) backupIfWork(step string, cur, handed []byte) (string, error) {
	saved, _ := os.ReadFile(w.state(step, "solution.go"))
	if bytes.Equal(cur, handed) || bytes.Equal(cur, saved) {
		return "", nil
	}
	dir := filepath.Join(w.Root, StateDir, step)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := filepath.Join(dir, "backup-"+time.Now().Format("20060102-150405.000000")+".go")
	if err := os.WriteFile(name, cur, 0o644); err != nil {
		return "", err
	}
	rel, _ := filepath.Rel(w.Root, name)
	return " (your previous main.go is in " + rel + ")", nil
}

func (w Workspace) save(step string, solution, exercise []byte) error {
	if err := os.MkdirAll(filepath.Join(w.Root, StateDir, step), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(w.state(step, "solution.go"), solution, 0o644); err != nil {
		return err
	}
	return os.WriteFile(w.state(step, "exercise.go"), exercise, 0o644)
}

// gitHead is file (relative to the root) as committed at HEAD.
func (w Workspace) gitHead(file string) ([]byte, error) {
	cmd := exec.Command("git", "show", "HEAD:"+file)
	cmd.Dir = w.Root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
			return nil, errors.New(string(msg))
		}
		return nil, err
	}
	return out, nil
}
