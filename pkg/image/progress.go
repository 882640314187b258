package image

import (
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// Terminal returns f when it is a terminal (the TCGETS ioctl(2) works only on
// one), else nil: a progress line redrawn with "\r" belongs on a screen, not
// in a log file or a test's output.
func Terminal(f *os.File) io.Writer {
	if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err != nil {
		return nil
	}
	return f
}

// progress draws one line, redrawn in place at most every 200ms:
// bytes done of the total the manifest announced, and the rate so far.
type progress struct {
	w           io.Writer // nil: silent
	total, done int64
	start, last time.Time
}

func newProgress(w io.Writer, blobs []v1.Descriptor) *progress {
	p := &progress{w: w, start: time.Now()}
	for _, b := range blobs {
		p.total += b.Size
	}
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.w != nil && time.Since(p.last) >= 200*time.Millisecond {
		p.last = time.Now()
		p.draw()
	}
	return len(b), nil
}

func (p *progress) draw() {
	rate := float64(p.done) / max(time.Since(p.start).Seconds(), 0.001)
	line := fmt.Sprintf("%s / %s", mb(float64(p.done)), mb(float64(p.total)))
	if p.total > 0 {
		line += fmt.Sprintf("  %3d%%", p.done*100/p.total)
	}
	// "\r" goes back to the line's start, "\033[K" erases what is left of it.
	fmt.Fprintf(p.w, "\rdownloading layers: %s  %s/s\033[K", line, mb(rate))
}

// end draws the final count and ends the line.
func (p *progress) end() {
	if p.w != nil && p.done > 0 {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

func mb(n float64) string { return fmt.Sprintf("%.1f MB", n/1e6) }
