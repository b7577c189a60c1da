package main

import (
	"io/fs"
	"testing"
)

func TestModeString(t *testing.T) {
	for _, tt := range []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, "-rw-r--r--"},
		{fs.ModeDir | 0o755, "drwxr-xr-x"},
		{fs.ModeSymlink | 0o777, "lrwxrwxrwx"},
		{fs.ModeSetuid | 0o755, "-rwsr-xr-x"},
		{fs.ModeSetuid | 0o644, "-rwSr--r--"},
		{fs.ModeDir | fs.ModeSetgid | 0o2775&0o777, "drwxrwsr-x"},
		{fs.ModeDir | fs.ModeSticky | 0o777, "drwxrwxrwt"},
		{fs.ModeSticky | 0o644, "-rw-r--r-T"},
		{fs.ModeDevice | fs.ModeCharDevice | 0o660, "crw-rw----"},
	} {
		if got := modeString(tt.mode); got != tt.want {
			t.Errorf("modeString(%v) = %q, want %q", tt.mode, got, tt.want)
		}
	}
}
