package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"

	"tincan.dev/pkg/layers"
	"tincan.dev/pkg/rootfs"
)

// ConfigFile is where the image's config is kept, in DIR: beside the layers,
// not in DIR/config, which is a layer itself (resolv.conf, hosts) and would
// show up inside the container as /image.json.
const ConfigFile = "image.json"

// source is an image and how far its files can be checked.
type source struct {
	img v1.Image
	// blobs: the manifest's digests of the config and each compressed layer
	// can be checked (a registry, an OCI layout); a docker save tarball
	// stores uncompressed layers whose only digests are the config's
	// diff_ids, which are always checked.
	blobs    bool
	progress io.Writer
}

// unpack fills dir from src: each layer into a staging directory
// DIR/.pull-*, its digests checked after its last byte, then the config into
// DIR/image.json and the staging directory renamed to DIR/image in one
// rename(2), so that can --fs never sees half an image. Any failure removes
// what it made, dir too if it made dir. It holds DIR's exclusive lock
// throughout: no container runs on DIR meanwhile, nor another pull.
func unpack(ctx context.Context, src source, dir string) (p *Pulled, err error) {
	made := os.Mkdir(dir, 0o755) == nil
	if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--fs %s: not a directory, and cannot be made one (does its parent exist?)", dir)
	}
	if _, serr := os.Lstat(filepath.Join(dir, "image")); serr == nil {
		return nil, fmt.Errorf("--fs %s already holds an image (%s/image): pull into a new DIR, or rm -rf %s first", dir, dir, dir)
	}
	lock, err := layers.Layers{Dir: dir}.Lock(true)
	if err != nil {
		if made {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	defer lock.Close()
	stale, _ := filepath.Glob(filepath.Join(dir, ".pull-*")) // a pull killed by SIGKILL
	for _, s := range stale {
		removeAll(s)
	}
	staging, err := os.MkdirTemp(dir, ".pull-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			removeAll(staging)
			os.Remove(filepath.Join(dir, ConfigFile))
			if made {
				removeAll(dir)
			}
		}
	}()

	raw, err := src.img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.OS != "" && (cfg.OS != Host().OS || cfg.Architecture != Host().Architecture) {
		return nil, fmt.Errorf("the image is for %s/%s, this host is %s/%s: pull one built for it", cfg.OS, cfg.Architecture, Host().OS, Host().Architecture)
	}
	var blobs []v1.Descriptor
	if src.blobs {
		m, err := src.img.Manifest()
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		if err := check(sha256.Sum256(raw), m.Config.Digest); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		blobs = m.Layers
	}
	ls, err := src.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("layers: %w", err)
	}
	if len(ls) != len(cfg.RootFS.DiffIDs) || src.blobs && len(blobs) != len(ls) {
		return nil, fmt.Errorf("the manifest lists %d layers, the config %d diff_ids: a broken image", len(ls), len(cfg.RootFS.DiffIDs))
	}
	prog := newProgress(src.progress, blobs)
	defer prog.end()
	for i, l := range ls {
		var want *v1.Hash
		if src.blobs {
			want = &blobs[i].Digest
		}
		if err := unpackLayer(ctx, l, want, cfg.RootFS.DiffIDs[i], filepath.Join(staging, strconv.Itoa(i)), prog); err != nil {
			return nil, fmt.Errorf("layer %d of %d: %w", i+1, len(ls), err)
		}
	}
	if err := writeFile(filepath.Join(dir, ConfigFile), raw); err != nil {
		return nil, err
	}
	if err := os.Rename(staging, filepath.Join(dir, "image")); err != nil {
		return nil, err
	}
	return &Pulled{Layers: len(ls), Config: cfg}, nil
}

// unpackLayer unpacks layer l into dir and checks its digests: want, the
// manifest's digest of the blob as stored (nil when there is none), and
// diffID, the config's digest of the tar. The digests are known only after
// the last byte, and the files are written as the bytes come: so a layer
// whose digest is wrong is removed with everything else unpack made.
func unpackLayer(ctx context.Context, l v1.Layer, want *v1.Hash, diffID v1.Hash, dir string, prog *progress) error {
	var (
		rc   io.ReadCloser
		err  error
		blob = sha256.New()
	)
	if want != nil {
		rc, err = l.Compressed() // the blob as stored, hashed as it is read
	} else {
		rc, err = l.Uncompressed()
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	stored := io.TeeReader(&ctxReader{ctx, rc}, io.MultiWriter(blob, prog))
	tarStream, err := decompress(stored)
	if err != nil {
		return err
	}
	diff := sha256.New()
	r := io.TeeReader(tarStream, diff)
	if err := rootfs.ImportLayer(r, dir); err != nil {
		return err
	}
	// A tar ends with two zero blocks, and a writer may pad after them: read
	// to the very end, or the digests would miss the last bytes.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, stored); err != nil {
		return err
	}
	if want != nil {
		if err := check(sum(blob), *want); err != nil {
			return fmt.Errorf("blob: %w", err)
		}
	}
	if err := check(sum(diff), diffID); err != nil {
		return fmt.Errorf("diff_id: %w", err)
	}
	return nil
}

// decompress reads a layer as stored: gzip, zstd or plain tar, told by the
// first bytes (the media type says it too, but the bytes cannot lie).
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return br, nil
}

func sum(h hash.Hash) [sha256.Size]byte { return [sha256.Size]byte(h.Sum(nil)) }

// check compares a SHA-256 with the digest a manifest or config gave.
func check(got [sha256.Size]byte, want v1.Hash) error {
	if want.Algorithm != "sha256" {
		return fmt.Errorf("digest %s: only sha256 is checked here", want)
	}
	if hex.EncodeToString(got[:]) != want.Hex {
		return fmt.Errorf("digest mismatch: got sha256:%x, want %s: the content is not what the image names, refused", got, want)
	}
	return nil
}

// ctxReader stops a read when ctx is done (can pull interrupted by ^C).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeFile writes a file whole or not at all: a temporary name, then
// rename(2), which replaces the old file in one step.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removeAll is os.RemoveAll that also works for a user who is not root:
// an image's read-only directories (a dr-xr-xr-x /proc) must be made
// writable before the files in them can go.
func removeAll(path string) error {
	if os.Geteuid() != 0 {
		filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o700)
			}
			return nil
		})
	}
	if err := os.RemoveAll(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
