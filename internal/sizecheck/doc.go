// Package sizecheck holds no code, only the test that keeps wsca's rooms small: no function outside
// tests and generated code over 100 lines, no Go file over 600 (STYLE.md aims at ~80 and ~500; the
// test catches what grew well past the aim, not every line over it).
package sizecheck
