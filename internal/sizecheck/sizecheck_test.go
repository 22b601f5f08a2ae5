package sizecheck

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	// maxFuncLines bounds a function outside _test.go files and generated code, counted from the func
	// keyword to the closing brace (doc comment not included).
	maxFuncLines = 100
	// maxFileLines bounds every Go file, tests included.
	maxFileLines = 600
)

// allowedFuncs are functions known to be over maxFuncLines whose split is under way on another branch,
// keyed "path/to/file.go Name". Remove an entry once its function is short again; the test logs entries
// that no longer need to be here.
var allowedFuncs = map[string]bool{}

// moduleRoot returns the directory holding go.mod, above the package directory the test runs in.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// generated reports whether src carries the standard "Code generated … DO NOT EDIT." marker
// (https://go.dev/s/generatedcode) before its package clause.
func generated(src []byte) bool {
	head, _, _ := bytes.Cut(src, []byte("\npackage "))
	for _, line := range strings.Split(string(head), "\n") {
		if strings.HasPrefix(line, "// Code generated ") && strings.HasSuffix(strings.TrimSpace(line), " DO NOT EDIT.") {
			return true
		}
	}
	return false
}

// TestSizes walks every Go file of the module (skipping testdata and hidden directories) and fails for
// each file over maxFileLines and each function over maxFuncLines outside tests and generated code.
func TestSizes(t *testing.T) {
	root := moduleRoot(t)
	seen := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(src, []byte("\n")); n > maxFileLines {
			t.Errorf("%s: %d lines, more than %d: split it along its concerns", rel, n, maxFileLines)
		}
		if strings.HasSuffix(name, "_test.go") || generated(src) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			key := rel + " " + fd.Name.Name
			if allowedFuncs[key] {
				seen[key] = n > maxFuncLines
				continue
			}
			if n > maxFuncLines {
				t.Errorf("%s: func %s is %d lines, more than %d: give each step a helper", rel, fd.Name.Name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range allowedFuncs {
		if !seen[key] {
			t.Logf("allowedFuncs: %q is no longer over %d lines (or gone): remove its entry", key, maxFuncLines)
		}
	}
}
