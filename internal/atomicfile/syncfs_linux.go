package atomicfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty page of the file system holding dir (syncfs(2), Linux 2.6.39+): one journal
// commit for a whole batch of new files. golang.org/x/sys because the frozen syscall package lacks syncfs.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
