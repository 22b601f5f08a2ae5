package relay

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are read(2) and write(2) on a non-blocking socket, made as raw system calls: without the
// runtime's entersyscall/exitsyscall around them. The sockets are non-blocking, so each call returns at once
// (EAGAIN when it cannot proceed) and the goroutine keeps its P throughout, as an event loop would. With
// syscall.Read/Write, the runtime's monitor hands a P that stays in a system call for one of its ticks (20 µs) to
// another thread: with GOMAXPROCS 1 (the relay pinned to one core), a loopback write that runs the receiver's
// TCP input can take that long, and every such hand-off costs thread wake-ups and context switches.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	return rawBufSyscall(syscall.SYS_READ, fd, p)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	return rawBufSyscall(syscall.SYS_WRITE, fd, p)
}

// rawBufSyscall makes the system call trap(fd, p, len(p)) and returns its count or its errno.
func rawBufSyscall(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, errno := syscall.RawSyscall(trap, fd, uintptr(ptr), uintptr(len(p)))
	if errno != 0 {
		return 0, errno
	}
	return int(n), 0
}
