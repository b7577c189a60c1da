package ext4

import (
	"fmt"
	"math/bits"
)

// Directory hash versions (s_def_hash_version, dx_root_info.hash_version).
// The unsigned variants are not stored on disk: s_flags says whether
// filename bytes are read as signed or unsigned chars, and the versions
// are shifted by hashUnsignedDelta in memory.
const (
	hashLegacy         = 0
	hashHalfMD4        = 1
	hashTEA            = 2
	hashUnsignedDelta  = 3
	hashLegacyUnsigned = hashLegacy + hashUnsignedDelta
	hashHalfMD4Unsign  = hashHalfMD4 + hashUnsignedDelta
	hashTEAUnsigned    = hashTEA + hashUnsignedDelta
)

// htreeEOF is the hash that marks the end of an htree walk; no name may
// hash to it.
const htreeEOF = 0x7FFFFFFF

// dirHash computes the major htree hash of name (with the low bit clear,
// which index entries use to mark hash collisions spilling into the next
// block).
func dirHash(version int, seed [4]uint32, name []byte) (uint32, error) {
	buf := seed
	if seed == [4]uint32{} {
		buf = [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	}
	var hash uint32
	switch version {
	case hashLegacy, hashLegacyUnsigned:
		hash = legacyHash(name, version == hashLegacyUnsigned)
	case hashHalfMD4, hashHalfMD4Unsign:
		var in [8]uint32
		for p := name; len(p) > 0; p = p[32:] {
			packName(p, len(p), in[:], version == hashHalfMD4Unsign)
			halfMD4(&buf, &in)
			if len(p) <= 32 {
				break
			}
		}
		hash = buf[1]
	case hashTEA, hashTEAUnsigned:
		var in [4]uint32
		for p := name; len(p) > 0; p = p[16:] {
			packName(p, len(p), in[:], version == hashTEAUnsigned)
			teaTransform(&buf, &in)
			if len(p) <= 16 {
				break
			}
		}
		hash = buf[0]
	default:
		return 0, fmt.Errorf("%w: directory hash version %d", ErrUnsupported, version)
	}
	hash &^= 1
	if hash == htreeEOF<<1 {
		hash = (htreeEOF - 1) << 1
	}
	return hash, nil
}

// char reads a filename byte as the C compiler that wrote the directory
// would have: sign-extended unless the filesystem says unsigned.
func char(b byte, unsigned bool) uint32 {
	if unsigned {
		return uint32(b)
	}
	return uint32(int32(int8(b)))
}

func legacyHash(name []byte, unsigned bool) uint32 {
	h0, h1 := uint32(0x12a3fe2d), uint32(0x37abe8f9)
	for _, b := range name {
		h := h1 + (h0 ^ char(b, unsigned)*7152373)
		if h&0x80000000 != 0 {
			h -= 0x7fffffff
		}
		h1, h0 = h0, h
	}
	return h0 << 1
}

// packName fills out with up to 4*len(out) bytes of msg, four to a word,
// most significant first, padded with a word derived from the full name
// length n.
func packName(msg []byte, n int, out []uint32, unsigned bool) {
	pad := uint32(n) | uint32(n)<<8
	pad |= pad << 16
	if len(msg) > 4*len(out) {
		msg = msg[:4*len(out)]
	}
	i := 0
	val := pad
	for j, b := range msg {
		if j%4 == 0 {
			val = pad
		}
		val = char(b, unsigned) + val<<8
		if j%4 == 3 {
			out[i] = val
			i++
			val = pad
		}
	}
	if i < len(out) {
		out[i] = val
		i++
	}
	for ; i < len(out); i++ {
		out[i] = pad
	}
}

func teaTransform(buf *[4]uint32, in *[4]uint32) {
	const delta = 0x9E3779B9
	var sum uint32
	b0, b1 := buf[0], buf[1]
	a, b, c, d := in[0], in[1], in[2], in[3]
	for range 16 {
		sum += delta
		b0 += (b1<<4 + a) ^ (b1 + sum) ^ (b1>>5 + b)
		b1 += (b0<<4 + c) ^ (b0 + sum) ^ (b0>>5 + d)
	}
	buf[0] += b0
	buf[1] += b1
}

// halfMD4 is the three-round, eight-word MD4 variant of the htree hash.
func halfMD4(buf *[4]uint32, in *[8]uint32) {
	const k2, k3 = 0x5A827999, 0x6ED9EBA1
	f := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	g := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	type step struct {
		word  int
		shift int
	}
	rounds := []struct {
		fn    func(x, y, z uint32) uint32
		k     uint32
		steps [8]step
	}{
		{f, 0, [8]step{{0, 3}, {1, 7}, {2, 11}, {3, 19}, {4, 3}, {5, 7}, {6, 11}, {7, 19}}},
		{g, k2, [8]step{{1, 3}, {3, 5}, {5, 9}, {7, 13}, {0, 3}, {2, 5}, {4, 9}, {6, 13}}},
		{h, k3, [8]step{{3, 3}, {7, 9}, {2, 11}, {6, 15}, {1, 3}, {5, 9}, {0, 11}, {4, 15}}},
	}
	for _, r := range rounds {
		for i, s := range r.steps {
			// The four registers rotate roles: a, d, c, b, a, d, c, b.
			switch i % 4 {
			case 0:
				a = bits.RotateLeft32(a+r.fn(b, c, d)+in[s.word]+r.k, s.shift)
			case 1:
				d = bits.RotateLeft32(d+r.fn(a, b, c)+in[s.word]+r.k, s.shift)
			case 2:
				c = bits.RotateLeft32(c+r.fn(d, a, b)+in[s.word]+r.k, s.shift)
			case 3:
				b = bits.RotateLeft32(b+r.fn(c, d, a)+in[s.word]+r.k, s.shift)
			}
		}
	}
	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}
