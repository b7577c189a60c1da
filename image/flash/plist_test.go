package flash

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A shortened `diskutil list -plist /dev/disk4` for an SD card with
// Raspberry Pi OS, and an APFS container entry.
const diskutilList = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>AllDisksAndPartitions</key>
	<array>
		<dict>
			<key>Content</key>
			<string>FDisk_partition_scheme</string>
			<key>DeviceIdentifier</key>
			<string>disk4</string>
			<key>OSInternal</key>
			<false/>
			<key>Partitions</key>
			<array>
				<dict>
					<key>Content</key>
					<string>Windows_FAT_32</string>
					<key>DeviceIdentifier</key>
					<string>disk4s1</string>
					<key>MountPoint</key>
					<string>/Volumes/bootfs</string>
					<key>Size</key>
					<integer>536870912</integer>
					<key>VolumeName</key>
					<string>bootfs</string>
				</dict>
				<dict>
					<key>Content</key>
					<string>Linux</string>
					<key>DeviceIdentifier</key>
					<string>disk4s2</string>
					<key>Size</key>
					<integer>4294967296</integer>
				</dict>
			</array>
			<key>Size</key>
			<integer>31914983424</integer>
		</dict>
		<dict>
			<key>APFSPhysicalStores</key>
			<array>
				<dict>
					<key>DeviceIdentifier</key>
					<string>disk0s2</string>
				</dict>
			</array>
			<key>DeviceIdentifier</key>
			<string>disk3</string>
			<key>Ratio</key>
			<real>0.5</real>
		</dict>
	</array>
</dict>
</plist>
`

func TestParsePlist(t *testing.T) {
	v, err := parsePlist([]byte(diskutilList))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"AllDisksAndPartitions": []any{
		map[string]any{
			"Content": "FDisk_partition_scheme", "DeviceIdentifier": "disk4", "OSInternal": false, "Size": int64(31914983424),
			"Partitions": []any{
				map[string]any{"Content": "Windows_FAT_32", "DeviceIdentifier": "disk4s1", "MountPoint": "/Volumes/bootfs", "Size": int64(536870912), "VolumeName": "bootfs"},
				map[string]any{"Content": "Linux", "DeviceIdentifier": "disk4s2", "Size": int64(4294967296)},
			},
		},
		map[string]any{
			"APFSPhysicalStores": []any{map[string]any{"DeviceIdentifier": "disk0s2"}},
			"DeviceIdentifier":   "disk3", "Ratio": 0.5,
		},
	}}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("parsePlist mismatch (-want +got):\n%s", diff)
	}
	if _, err := parsePlist([]byte("<plist><dict><key>x</key><integer>x1</integer></dict></plist>")); err == nil {
		t.Errorf("parsePlist with a bad integer: no error")
	}
}
