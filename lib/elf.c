/* elf.c: see elf.h. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "elf.h"
#include "spawn.h"

/* A hung loader is only bounded; it answers in milliseconds. */
#define LIST_TIMEOUT_MS 20000

static uint64_t
elf_word(const unsigned char *p, int size, int big)
{
	uint64_t v = 0;

	for (int i = 0; i < size; i++)
		v |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
	return v;
}

int
dm_elf_inspect(const char *path, int *dynamic, char *interp, size_t interp_len)
{
	unsigned char eh[64], ph[56];
	uint64_t phoff, phentsize, phnum;
	int fd, is64, big, rc = 1;
	ssize_t n;

	*dynamic = 0;
	if (interp_len > 0)
		interp[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = pread(fd, eh, sizeof(eh), 0);
	if (n < 52 || memcmp(eh, ELFMAG, SELFMAG) != 0 ||
	    (eh[EI_CLASS] != ELFCLASS32 && eh[EI_CLASS] != ELFCLASS64) ||
	    (eh[EI_DATA] != ELFDATA2LSB && eh[EI_DATA] != ELFDATA2MSB)) {
		close(fd);
		return n < 0 ? -errno : 0;
	}
	is64 = eh[EI_CLASS] == ELFCLASS64;
	big = eh[EI_DATA] == ELFDATA2MSB;
	if (is64 && n < 64) {
		close(fd);
		return 0;
	}
	phoff = elf_word(eh + (is64 ? 32 : 28), is64 ? 8 : 4, big);
	phentsize = elf_word(eh + (is64 ? 54 : 42), 2, big);
	phnum = elf_word(eh + (is64 ? 56 : 44), 2, big);
	if (phentsize < (is64 ? 56u : 32u) || phnum > 4096) {
		close(fd);
		return 0;
	}
	for (uint64_t i = 0; i < phnum; i++) {
		uint64_t type, off, fsz;

		if (pread(fd, ph, is64 ? 56 : 32,
			  (off_t)(phoff + i * phentsize)) != (is64 ? 56 : 32))
			break;
		type = elf_word(ph, 4, big);
		off = elf_word(ph + (is64 ? 8 : 4), is64 ? 8 : 4, big);
		fsz = elf_word(ph + (is64 ? 32 : 16), is64 ? 8 : 4, big);
		if (type == PT_DYNAMIC)
			*dynamic = 1;
		if (type == PT_INTERP && interp_len > 0) {
			size_t want = fsz < interp_len ? (size_t)fsz
						       : interp_len - 1;

			if (pread(fd, interp, want, (off_t)off) !=
			    (ssize_t)want) {
				interp[0] = '\0';
				continue;
			}
			interp[want] = '\0';
			interp[strnlen(interp, want)] = '\0';
		}
	}
	close(fd);
	return rc;
}

int
dm_elf_libs(const char *interp, const char *path, dm_elf_lib_fn fn, void *ctx)
{
	const char *argv[] = {interp, "--list", path, NULL};
	char *text, *save = NULL, *line;
	struct dm_buf out;
	int rc;

	dm_buf_init(&out);
	if ((rc = dm_spawn_capture(argv, &out, NULL, LIST_TIMEOUT_MS)) != 0)
		goto out;
	if ((text = dm_buf_cstr(&out)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", and the
	 * loader as "\t/lib64/ld-linux-x86-64.so.2 (0x...)". */
	for (line = strtok_r(text, "\n", &save); line != NULL && rc == 0;
	     line = strtok_r(NULL, "\n", &save)) {
		char *lib = strstr(line, "=> "), *sp;

		lib = lib ? lib + 3 : line;
		while (*lib == ' ' || *lib == '\t')
			lib++;
		if (*lib != '/')
			continue; /* the vDSO, "not found" */
		if ((sp = strstr(lib, " (")) != NULL)
			*sp = '\0';
		rc = fn(ctx, lib);
	}
out:
	dm_buf_free(&out);
	return rc;
}
