package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/petrel-mq/petrel/internal/store/vfs"
)

// jsonFile is a metadata file (topics, subscription groups, consumer
// offsets) replaced atomically: write a temporary file, sync it, rename it
// over the old one, sync the directory. A crash leaves the old or the new
// file, never half of one.
type jsonFile struct {
	fs   vfs.FS
	path string
}

// load decodes the file into v; a missing file leaves v unchanged.
func (f jsonFile) load(v any) (bool, error) {
	file, err := f.fs.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", f.path, err)
	}
	defer file.Close()
	size, err := file.Size()
	if err != nil {
		return false, fmt.Errorf("size of %s: %w", f.path, err)
	}
	b := make([]byte, size)
	if _, err := file.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read %s: %w", f.path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", f.path, err)
	}
	return true, nil
}

// save replaces the file with v's JSON.
func (f jsonFile) save(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", f.path, err)
	}
	dir := path.Dir(f.path)
	if err := f.fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp := f.path + ".tmp"
	file, err := f.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := file.WriteAt(b, 0); err != nil {
		file.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := f.fs.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := f.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
