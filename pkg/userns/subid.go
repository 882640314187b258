package userns

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The files that give each user a range of subordinate ids (subuid(5),
// subgid(5)). newuidmap and newgidmap read these same paths; tests bind-mount
// their own files over them in a private mount namespace.
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

// Range is Count ids starting at Start.
type Range struct{ Start, Count uint32 }

// SubIDs returns the first range file gives the user named name, or with the
// numeric id (a line may use either, subuid(5)).
func SubIDs(file, name string, id uint32) (Range, error) {
	f, err := os.Open(file)
	if err != nil {
		return Range{}, err
	}
	defer f.Close()
	r, ok, err := parseSubIDs(f, name, id)
	if err != nil {
		return Range{}, fmt.Errorf("%s: %w", file, err)
	}
	if !ok {
		return Range{}, fmt.Errorf("no range for %s in %s", name, file)
	}
	return r, nil
}

// parseSubIDs reads "NAME_OR_ID:START:COUNT" lines.
func parseSubIDs(r io.Reader, name string, id uint32) (Range, bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Split(line, ":")
		if line == "" || strings.HasPrefix(line, "#") || len(f) != 3 {
			continue
		}
		if f[0] != name && f[0] != strconv.FormatUint(uint64(id), 10) {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue // newuidmap skips such lines too
		}
		return Range{uint32(start), uint32(count)}, true, nil
	}
	return Range{}, false, sc.Err()
}
