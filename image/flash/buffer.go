package flash

import "unsafe"

// alignedBuffer returns n bytes whose address is a multiple of blockSize,
// as O_DIRECT and FILE_FLAG_NO_BUFFERING require.
func alignedBuffer(n int) []byte {
	b := make([]byte, n+blockSize)
	skip := 0
	if rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % blockSize); rem != 0 {
		skip = blockSize - rem
	}
	return b[skip : skip+n : skip+n]
}
