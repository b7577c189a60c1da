//go:build !linux

package bake

import "os"

func createAnonymous(dir string) (*os.File, error) { return nil, errNoAnonymous }

func linkAnonymous(f *os.File, final string) (string, error) { return "", errNoAnonymous }

func anonymousPath(f *os.File) string { return f.Name() }
