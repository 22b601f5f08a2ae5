//go:build linux

package main

import "testing"

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-1": 2, "0,2-3": 3, " 1 ": 1} {
		got, err := parseCPUList(in)
		if err != nil || len(got) != want {
			t.Errorf("parseCPUList(%q) = %v, %v; want %d CPUs", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "0-99999"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
}

func TestSumCoreTicks(t *testing.T) {
	stat := []byte("cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu1 5 0 5 30 10 0 0 0 0 0\nintr 1\n")
	got, err := sumCoreTicks(stat, map[int]bool{1: true})
	if err != nil || got != (coreTicks{busy: 10, total: 50}) {
		t.Fatalf("cpu1 = %+v, %v; want busy 10 of 50 (idle and iowait not busy)", got, err)
	}
	if _, err := sumCoreTicks(stat, map[int]bool{2: true}); err == nil {
		t.Fatal("a CPU missing from /proc/stat was not reported")
	}
	if p := busyPercent(coreTicks{10, 100}, coreTicks{60, 200}); p != 50 {
		t.Fatalf("busyPercent = %v, want 50", p)
	}
}
