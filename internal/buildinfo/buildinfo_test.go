package buildinfo

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
		text []string
	}{{
		name: "release build from a clean tree",
		bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/wsca/wsca", Version: "v1.2.0"},
			Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "ce1a4ea1b2c3d4e5f60718293a4b5c6d7e8f9012"},
				{Key: "vcs.time", Value: "2026-12-06T04:40:00Z"}, {Key: "vcs.modified", Value: "false"}}},
		want: Info{Version: "v1.2.0", Revision: "ce1a4ea1b2c3d4e5f60718293a4b5c6d7e8f9012", Time: "2026-12-06T04:40:00Z",
			GoVersion: "go1.26.8", Platform: "linux/amd64"},
		text: []string{"wsca v1.2.0\n", "revision: ce1a4ea1b2c3d4e5f60718293a4b5c6d7e8f9012\n", "time:     2026-12-06T04:40:00Z\n", "go:       go1.26.8 linux/amd64\n"},
	}, {
		name: "pseudo-version from a dirty tree",
		bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206044000-ce1a4ea1b2c3+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "ce1a4ea1b2c3"}, {Key: "vcs.modified", Value: "true"}}},
		want: Info{Version: "v0.0.0-20261206044000-ce1a4ea1b2c3+dirty", Revision: "ce1a4ea1b2c3", Modified: true, GoVersion: "go1.26.8"},
		text: []string{"revision: ce1a4ea1b2c3 (modified: built with uncommitted changes)\n", "time:     unknown\n", "go:       go1.26.8\n"},
	}, {
		name: "nothing recorded (go test, no VCS)",
		bi:   debug.BuildInfo{GoVersion: "go1.26.8"},
		want: Info{Version: "(devel)", GoVersion: "go1.26.8"},
		text: []string{"wsca (devel)\n", "revision: unknown\n"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromBuildInfo(&tt.bi)
			if got != tt.want {
				t.Fatalf("FromBuildInfo = %+v\nwant %+v", got, tt.want)
			}
			for _, s := range tt.text {
				if !strings.Contains(got.String(), s) {
					t.Errorf("String() = %q\nlacks %q", got.String(), s)
				}
			}
		})
	}
}

// TestJSONFields pins the field names of `wsca version --json`: scripts depend on them.
func TestJSONFields(t *testing.T) {
	b, err := json.Marshal(Info{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":"","revision":"","time":"","modified":false,"go":"","platform":""}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant %s", b, want)
	}
}

func TestReadRunningBinary(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() || i.Platform != runtime.GOOS+"/"+runtime.GOARCH || i.Version == "" {
		t.Errorf("Read() = %+v: want this toolchain %s, platform %s/%s and a version", i, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
}
