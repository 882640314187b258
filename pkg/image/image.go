// Package image brings a container image, from a registry (Pull) or a file
// (Import), into soulwing/can's layered layout that can --fs runs:
//
//	DIR/image/0 ... image/N   the image's layers, unpacked, bottom first
//	DIR/image.json            the image's config, as the image carries it
//
// An image (the OCI image spec, github.com/opencontainers/image-spec) is
// three kinds of JSON and tar files, each named by the SHA-256 of its bytes
// (its digest), so that whoever holds a digest can check what it received:
//
//   - a manifest lists the config's digest and each layer's, in order;
//   - the config says what to run (Env, Entrypoint, Cmd, WorkingDir, User)
//     and lists each layer's diff_id: the digest of the layer uncompressed;
//   - a layer is a tar file, usually gzip-compressed, of the files it adds
//     or changes over the layers below; a deletion is a "whiteout" file
//     (rootfs.ImportLayer turns those into overlay's).
//
// A registry serves them over HTTP (the OCI distribution spec): GET
// /v2/NAME/manifests/TAG, then GET /v2/NAME/blobs/DIGEST for the config and
// each layer. A tag may name an index instead of a manifest: one manifest per
// platform (linux/amd64, linux/arm64, ...), and the client picks its own.
// go-containerregistry (the library under crane and ko) speaks that protocol,
// with the user's docker credentials; this package checks every digest
// itself, so a reader sees where the trust comes from.
package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"tincan.dev/pkg/rootfs"
)

// Host is the platform can runs on, the one chosen from an index.
func Host() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// Pulled says what Pull or Import brought into DIR.
type Pulled struct {
	Layers int
	Config *v1.ConfigFile
}

// Pull fetches the image ref names (docker's syntax: "alpine",
// "ghcr.io/owner/name:tag", "localhost:5000/x@sha256:...") for this host's
// platform, and unpacks it into dir (see the package comment). A registry on
// localhost or a private address is spoken to over plain HTTP, as docker
// does for localhost. Progress goes to progress, nil for none.
func Pull(ctx context.Context, ref, dir string, progress io.Writer) (*Pulled, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("pull %q: %w: give a reference like alpine, alpine:3.20 or localhost:5000/name:tag", ref, err)
	}
	img, err := remote.Image(r,
		remote.WithContext(ctx),
		remote.WithPlatform(Host()),
		remote.WithAuthFromKeychain(authn.DefaultKeychain)) // ~/.docker/config.json
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return unpack(ctx, source{img: img, blobs: true, progress: progress}, dir)
}

// Import unpacks the image in file into dir, like Pull: file is a tarball
// made by docker save, an OCI archive (a tar of an OCI layout, as skopeo
// copy oci-archive:FILE writes), or an OCI layout directory (skopeo's oci:DIR,
// umoci's). A layout or archive holding several images must hold one for this
// platform (an index) or a single one.
func Import(ctx context.Context, file, dir string) (*Pulled, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if fi.IsDir() {
		img, err := fromLayout(file)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", file, err)
		}
		return unpack(ctx, source{img: img, blobs: true}, dir)
	}
	names, err := tarNames(file, "manifest.json", "index.json")
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", file, err)
	}
	switch {
	case names["manifest.json"]:
		// docker save's format: manifest.json lists each image's config and
		// layer files. The layers are often stored uncompressed, with no
		// digest but the config's diff_ids, which unpack checks.
		img, err := tarball.ImageFromPath(file, nil)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", file, err)
		}
		return unpack(ctx, source{img: img}, dir)
	case names["index.json"]:
		// An OCI archive is an OCI layout in a tar: unpack it (safely, it
		// is input like any other) next to the image, and read that.
		tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), ".tincan-import-")
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", file, err)
		}
		defer os.RemoveAll(tmp)
		if err := rootfs.ImportFile(file, tmp); err != nil {
			return nil, err
		}
		img, err := fromLayout(tmp)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", file, err)
		}
		return unpack(ctx, source{img: img, blobs: true}, dir)
	}
	return nil, fmt.Errorf("import %s: neither a docker save tarball (no manifest.json) nor an OCI archive (no index.json)", file)
}

// fromLayout picks the image for this platform out of the OCI layout in dir.
func fromLayout(dir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI layout: %w", err)
	}
	return pick(idx)
}

// pick follows an index down to the one image for this host: entries for
// other platforms are skipped, an entry without a platform (a layout's
// index.json often has none) is a candidate, and exactly one must remain.
func pick(idx v1.ImageIndex) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.Satisfies(Host()) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, d := range im.Manifests {
			names = append(names, d.Annotations["org.opencontainers.image.ref.name"]+"@"+d.Digest.String())
		}
		return nil, fmt.Errorf("%d images for %s/%s in %v: import an archive holding one", len(found), Host().OS, Host().Architecture, names)
	}
	if found[0].MediaType.IsIndex() {
		child, err := idx.ImageIndex(found[0].Digest)
		if err != nil {
			return nil, err
		}
		return pick(child)
	}
	return idx.Image(found[0].Digest)
}

// tarNames tells which of names are entries of the tar file.
func tarNames(file string, names ...string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	found := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return found, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar file: %w", err)
		}
		for _, n := range names {
			if filepath.Clean(h.Name) == n {
				found[n] = true
			}
		}
	}
}
