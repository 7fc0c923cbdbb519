/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CRC32C for metadata_csum with the CPU's crc32 instruction (SSE4.2).
 *
 * With metadata_csum every inode, directory block, bitmap, extent block and group descriptor
 * is checksummed on each read and write. libext2fs 1.47 computes CRC32C with a table-driven
 * slice-by-8 loop, which was a third of the server's CPU time on create/stat/rename
 * (docs/performance.md). libext2fs calls ext2fs_crc32c_le() through its PLT, so a definition
 * in the executable takes its place for every caller, the library included: this file is that
 * definition. The result is bit for bit the same function (the reflected Castagnoli CRC,
 * without pre- or post-inversion: callers pass their seed and finish themselves);
 * tests/unit/test-ext4-fs.c compares the two.
 *
 * Without SSE4.2 (or off x86-64) the library's own code is called, found with
 * dlsym(RTLD_NEXT) in a constructor, before the sandbox exists; a bitwise loop if even that
 * is missing (a static libext2fs).
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ext4.h"

typedef uint32_t (*crc32c_fn)(uint32_t crc, unsigned char const *p, size_t len);

static crc32c_fn crc32c_impl;
static crc32c_fn crc32c_lib;

static uint32_t crc32c_bitwise(uint32_t crc, unsigned char const *p, size_t len)
{
	for (; len > 0; p++, len--) {
		crc ^= *p;
		for (int i = 0; i < 8; i++)
			crc = (crc >> 1) ^ (0x82f63b78U & -(crc & 1));
	}
	return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, unsigned char const *p,
							       size_t len)
{
	uint64_t c = crc;

	/* Unaligned 8-byte loads are cheap on every CPU that has the instruction. */
	for (; len >= 32; p += 32, len -= 32) {
		uint64_t w[4];

		memcpy(w, p, sizeof(w));
		c = _mm_crc32_u64(c, w[0]);
		c = _mm_crc32_u64(c, w[1]);
		c = _mm_crc32_u64(c, w[2]);
		c = _mm_crc32_u64(c, w[3]);
	}
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = _mm_crc32_u64(c, w);
	}
	for (; len > 0; p++, len--)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return (uint32_t)c;
}
#endif

__attribute__((constructor)) static void crc32c_choose(void)
{
	crc32c_lib = (crc32c_fn)dlsym(RTLD_NEXT, "ext2fs_crc32c_le");
	if (!crc32c_lib)
		crc32c_lib = crc32c_bitwise;
	crc32c_impl = crc32c_lib;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_impl = crc32c_sse42;
#endif
}

uint32_t ext2fs_crc32c_le(uint32_t crc, unsigned char const *p, size_t len)
{
	return crc32c_impl(crc, p, len);
}

bool ext4_crc32c_hw(void)
{
	return crc32c_impl != crc32c_lib;
}

uint32_t ext4_crc32c_lib(uint32_t crc, unsigned char const *p, size_t len)
{
	return crc32c_lib(crc, p, len);
}
