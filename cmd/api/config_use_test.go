package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestEveryVariableIsUsed: each variable Config declares is read by the
// code that builds the server, not only parsed, validated and logged. A
// field nothing uses is a dead knob: deploy/'s tests accept a manifest
// that sets it, and an operator who sets it changes nothing (NATS_URL was
// one). deploy/ checks the other direction: every variable a manifest
// sets is declared here.
func TestEveryVariableIsUsed(t *testing.T) {
	t.Parallel()
	// Reading a field here is not using it.
	notUse := map[string]bool{"validate": true, "LogValue": true, "loadConfig": true}
	used := map[string]bool{}
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || notUse[fn.Name.Name] {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					used[sel.Sel.Name] = true
				}
				return true
			})
		}
	}
	typ := reflect.TypeFor[Config]()
	if typ.NumField() < 20 {
		t.Fatalf("Config has %d fields; the test reads the wrong type", typ.NumField())
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if env := f.Tag.Get("env"); env != "" && !used[f.Name] {
			t.Errorf("%s (Config.%s) is declared, but nothing that builds the server reads it", env, f.Name)
		}
	}
}
