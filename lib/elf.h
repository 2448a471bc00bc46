/*
 * elf.h: what dmake needs to know of an ELF file without running it:
 * whether it is one, whether it links shared libraries, its program
 * interpreter; and which libraries that interpreter would load.  Used by
 * the toolchain packer (which carries them) and the identity cache (which
 * watches them).
 */
#ifndef DM_ELF_H
#define DM_ELF_H

#include <stddef.h>

/* Looks at an ELF file: *dynamic 1 when it has a PT_DYNAMIC segment
 * (links shared libraries), interp its PT_INTERP ("" when none).
 * Returns 1 for an ELF file, 0 for anything else, or -errno. */
int dm_elf_inspect(const char *path, int *dynamic, char *interp,
		   size_t interp_len);

/* The shared libraries of the dynamic ELF file at path as the loader
 * interp resolves them (`interp --list path`, which loads them and runs
 * none of their code): fn(ctx, lib) for each, lib the absolute path it
 * was found at, the loader itself included; the vDSO and libraries not
 * found are left out.  Stops at the first non-zero fn() and returns it;
 * otherwise 0, or the error of running the loader (DM_ECHILD when it
 * failed).  Blocking: the loader maps every library, a few ms. */
typedef int (*dm_elf_lib_fn)(void *ctx, const char *lib);
int dm_elf_libs(const char *interp, const char *path, dm_elf_lib_fn fn,
		void *ctx);

#endif
