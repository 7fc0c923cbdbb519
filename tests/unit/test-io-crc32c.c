/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * service/io-crc32c.c: the ext2fs_crc32c_le() that replaces libext2fs's must be the same
 * function, or every checksum we write is wrong and every one we read fails. Compared with
 * the library's own code on the standard check value, every length from 0 to 300 at every
 * alignment, seeds, and whole blocks; and it must be the one libext2fs actually calls.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ext4.h"
#include "tap.h"

int main(void)
{
	static unsigned char buf[65536 + 16];
	unsigned int mismatches = 0;
	uint32_t seed = 0x12345678;

	tap_plan_start();
	srand(42);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();

	/* The CRC-32C check value: "123456789" with ~0 in, inverted out. */
	TAP_EQ_INT(~ext2fs_crc32c_le(~0U, (const unsigned char *)"123456789", 9), 0xe3069283U);
	TAP_EQ_INT(~ext4_crc32c_lib(~0U, (const unsigned char *)"123456789", 9), 0xe3069283U);

	for (size_t align = 0; align < 8; align++)
		for (size_t len = 0; len <= 300; len++) {
			seed = seed * 1103515245U + 12345U;
			if (ext2fs_crc32c_le(seed, buf + align, len) !=
			    ext4_crc32c_lib(seed, buf + align, len))
				mismatches++;
		}
	TAP_EQ_INT(mismatches, 0);
	for (size_t len = 1024; len <= 65536; len *= 2)
		TAP_EQ_INT(ext2fs_crc32c_le(~0U, buf + 3, len), ext4_crc32c_lib(~0U, buf + 3, len));

	/* libext2fs's calls reach ours: the symbol the dynamic linker binds first (what the
	 * library's PLT gets) is this executable's, not the library's. */
	TAP_OK(dlsym(RTLD_DEFAULT, "ext2fs_crc32c_le") == (void *)ext2fs_crc32c_le);
	TAP_OK(dlsym(RTLD_NEXT, "ext2fs_crc32c_le") != NULL);
	TAP_OK(dlsym(RTLD_NEXT, "ext2fs_crc32c_le") != (void *)ext2fs_crc32c_le);
	/* A checksum the library computes itself (through its PLT, so through ours) matches
	 * the library's own code. */
	{
		struct struct_ext2_filsys fake;
		struct ext2_super_block sb;

		memset(&fake, 0, sizeof(fake));
		memcpy(&sb, buf, sizeof(sb));
		fake.super = &sb;
		ext2fs_set_feature_metadata_csum(&sb);
		TAP_EQ_INT(ext2fs_superblock_csum_set(&fake, &sb), 0);
		TAP_EQ_INT(sb.s_checksum,
			   ext4_crc32c_lib(~0U, (const unsigned char *)&sb,
					   offsetof(struct ext2_super_block, s_checksum)));
	}
	printf("# CRC32C: %s\n", ext4_crc32c_hw() ? "SSE4.2" : "libext2fs");
	return tap_plan_end();
}
