//go:build !linux && !darwin && !windows

package flash

import (
	"errors"
	"fmt"
)

// Inspect is not supported on this system.
func Inspect(path string) (*Device, error) {
	return nil, fmt.Errorf("inspecting %s: %w", path, errors.ErrUnsupported)
}

// List is not supported on this system.
func List() ([]*Device, error) {
	return nil, fmt.Errorf("listing disks: %w", errors.ErrUnsupported)
}

func openTarget(dev *Device) (target, error) {
	return nil, fmt.Errorf("opening %s: %w", dev.Path, errors.ErrUnsupported)
}
