package engine

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"tincan.dev/pkg/rootfs"
)

// ImageRef is the name the busybox image is loaded under. Docker and podman
// complete it to docker.io/tincan-test/busybox:latest, and ctr images import
// stores it under that full name, so the engines are given the full one.
const ImageRef = "docker.io/tincan-test/busybox:latest"

// BuildImage writes the busybox root filesystem (pkg/rootfs.Busybox) as a
// docker-archive into dir and returns its path: the one image format all three
// engines load offline (docker load, podman load, ctr images import). Docker
// 20.10 cannot load an OCI archive, the others read both.
//
// A docker-archive (docker save's format) is a tar holding manifest.json
// ([{Config, RepoTags, Layers}]), the image config (a JSON file named by its
// own sha256) and each layer as an uncompressed tar. The config names each
// layer by the sha256 of that tar (rootfs.diff_ids): an engine that finds
// another digest refuses the image. Writing it here, rather than with umoci
// and skopeo, keeps it to Go and leaves nothing in /var/lib/containers/cache,
// where skopeo keeps a blob cache it cannot be told to put elsewhere.
func BuildImage(t testing.TB, dir string) string {
	t.Helper()
	root := filepath.Join(dir, "rootfs")
	if err := rootfs.Busybox(root); err != nil {
		t.Fatalf("engine: busybox root for the image: %v (apt-get install busybox-static)", err)
	}
	layer := filepath.Join(dir, "layer.tar")
	diffID, err := tarTree(root, layer)
	if err != nil {
		t.Fatalf("engine: image layer: %v", err)
	}
	config, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
	})
	sum := sha256.Sum256(config)
	configName := hex.EncodeToString(sum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{ImageRef},
		"Layers":   []string{diffID + "/layer.tar"},
	}})

	archive := filepath.Join(dir, "busybox.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, body []byte) {
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		}
		if err == nil {
			_, err = tw.Write(body)
		}
	}
	add(configName, config)
	add("manifest.json", manifest)
	if err == nil {
		var body []byte
		body, err = os.ReadFile(layer)
		add(diffID+"/layer.tar", body)
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatalf("engine: write %s: %v", archive, err)
	}
	return archive
}

// tarTree writes the tree at root as a layer tar (paths relative, no leading
// "/", owners kept) into out and returns the tar's sha256 in hex.
func tarTree(root, out string) (string, error) {
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(f, h))
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, _ = filepath.Rel(root, p)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", "" // the numbers are what counts in a layer
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	return hex.EncodeToString(h.Sum(nil)), err
}
