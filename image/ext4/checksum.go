package ext4

import "hash/crc32"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c continues a CRC32C the way ext4 does (the kernel's crc32c_le):
// no inversion on the way in or out, so the result of one call seeds the
// next. hash/crc32 inverts both ends, hence the two complements.
func crc32c(crc uint32, p []byte) uint32 {
	return ^crc32.Update(^crc, castagnoli, p)
}

func crc32cUint32(crc, v uint32) uint32 {
	var b [4]byte
	le.PutUint32(b[:], v)
	return crc32c(crc, b[:])
}

// crc16 is the CRC-16 (polynomial 0x8005, reflected) that gdt_csum
// filesystems use for group descriptors, continued like crc32c above.
func crc16(crc uint16, p []byte) uint16 {
	for _, b := range p {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}
