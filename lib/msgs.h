/*
 * msgs.h: every message of the dmake protocol, declared once.
 *
 * doc/protocol.md is the authority; this file must say the same.  Each
 * message is one X(NAME, number, lname) line plus a DM_FIELDS_NAME(F, S)
 * list of F(S, KIND, field, max) entries.  wire.h turns these into
 * `struct dm_msg_lname`, the union of all of them, and one table of field
 * descriptors from which the generic codec in wire.c encodes, decodes and
 * checks limits.  Numbers are never reused (see protocol.md for ranges).
 */
#ifndef DM_MSGS_H
#define DM_MSGS_H

#define DM_PROTOCOL_VERSION 1

/* Largest frame (type + payload) any receiver accepts. */
#define DM_FRAME_MAX ((1u << 20) + 64)
/* Largest compressed chunk in a DATA frame, and its uncompressed input. */
#define DM_CHUNK_MAX (256u * 1024)
#define DM_CHUNK_IN (128u * 1024)

#define DM_MSGS(X)                                                            \
	X(ERROR, 1, error)                                                    \
	X(PING, 2, ping)                                                      \
	X(PONG, 3, pong)                                                      \
	X(DATA, 4, data)                                                      \
	X(DATA_END, 5, data_end)                                              \
	X(NODE_REGISTER, 16, node_register)                                   \
	X(NODE_ACCEPT, 17, node_accept)                                       \
	X(NODE_LOAD, 18, node_load)                                           \
	X(NODE_TOOLCHAINS, 19, node_toolchains)                               \
	X(BUILD_HELLO, 48, build_hello)                                       \
	X(GRANT, 49, grant)                                                   \
	X(PLACE, 50, place)                                                   \
	X(PLACED, 51, placed)                                                 \
	X(PLACE_FAIL, 52, place_fail)                                         \
	X(JOB_END, 53, job_end)                                               \
	X(STATUS_REQ, 54, status_req)                                         \
	X(STATUS, 55, status)                                                 \
	X(DEMAND, 56, demand)                                                 \
	X(JOB, 80, job)                                                       \
	X(JOB_RESULT, 81, job_result)                                         \
	X(NEED_TOOLCHAIN, 82, need_toolchain)                                 \
	X(TOOLCHAIN, 83, toolchain)                                           \
	X(JOB_ENV, 96, job_env)                                               \
	X(JOB_FILE, 97, job_file)                                             \
	X(JOB_START, 98, job_start)                                           \
	X(JOB_FILES, 99, job_files)                                           \
	X(JOB_FILES_NEED, 100, job_files_need)                                \
	X(LOCAL_ACQUIRE, 112, local_acquire)                                  \
	X(LOCAL_GRANTED, 113, local_granted)                                  \
	X(LOCAL_RELEASE, 114, local_release)                                  \
	X(OUTCOME, 115, outcome)                                              \
	X(TOOLCHAIN_REQ, 116, toolchain_req)                                  \
	X(TOOLCHAIN_ARCHIVE, 117, toolchain_archive)                          \
	X(TOOLCHAIN_SENT, 118, toolchain_sent)                                \
	X(RELAY, 119, relay)                                                  \
	X(RELAY_OK, 120, relay_ok)                                            \
	X(RELAY_FAIL, 121, relay_fail)                                        \
	X(HASH_REQ, 122, hash_req)                                            \
	X(HASH_ANS, 123, hash_ans)                                            \
	X(HASH_PUT, 124, hash_put)

#define DM_FIELDS_ERROR(F, S) F(S, U32, code, 0) F(S, STR, text, 4096)
#define DM_FIELDS_PING(F, S) F(S, U64, seq, 0)
#define DM_FIELDS_PONG(F, S) F(S, U64, seq, 0)
#define DM_FIELDS_DATA(F, S) F(S, BLOB, chunk, DM_CHUNK_MAX)
#define DM_FIELDS_DATA_END(F, S) F(S, U64, size, 0)
#define DM_FIELDS_NODE_REGISTER(F, S)                                         \
	F(S, STR, name, 64)                                                   \
	F(S, STR, addr, 256)                                                  \
	F(S, STR, platform, 64)                                               \
	F(S, U32, slots, 0)                                                   \
	F(S, STRV, toolchains, 65536)
#define DM_FIELDS_NODE_ACCEPT(F, S)                                           \
	F(S, U64, node_id, 0) F(S, U32, heartbeat_ms, 0)
#define DM_FIELDS_NODE_LOAD(F, S)                                             \
	F(S, U32, running, 0) F(S, U32, load_milli, 0)
#define DM_FIELDS_NODE_TOOLCHAINS(F, S)                                       \
	F(S, U32, archives, 0) F(S, STRV, cached, 65536)
#define DM_FIELDS_BUILD_HELLO(F, S)                                           \
	F(S, STR, host, 256) F(S, U32, local_slots, 0) F(S, STR, label, 256)
#define DM_FIELDS_GRANT(F, S) F(S, U64, build_id, 0) F(S, U32, slots, 0)
#define DM_FIELDS_PLACE(F, S)                                                 \
	F(S, U64, req, 0)                                                     \
	F(S, STR, toolchain, 128)                                             \
	F(S, U64, unit_bytes, 0)                                              \
	F(S, STR, platform, 64)
#define DM_FIELDS_PLACED(F, S)                                                \
	F(S, U64, req, 0)                                                     \
	F(S, U64, ticket, 0)                                                  \
	F(S, STR, node_addr, 256)                                             \
	F(S, STR, node_name, 64)
#define DM_FIELDS_PLACE_FAIL(F, S)                                            \
	F(S, U64, req, 0) F(S, U32, code, 0) F(S, STR, reason, 1024)
#define DM_FIELDS_JOB_END(F, S)                                               \
	F(S, U64, ticket, 0)                                                  \
	F(S, U32, result, 0)                                                  \
	F(S, U32, cpu_ms, 0)                                                  \
	F(S, U64, unit_bytes, 0)
#define DM_FIELDS_STATUS_REQ(F, S)
#define DM_FIELDS_STATUS(F, S) F(S, STR, json, 1u << 20)
#define DM_FIELDS_DEMAND(F, S) F(S, U32, want, 0)
#define DM_FIELDS_JOB(F, S)                                                   \
	F(S, U64, ticket, 0)                                                  \
	F(S, STR, toolchain, 128)                                             \
	F(S, STR, role, 16)                                                   \
	F(S, STRV, args, 256u * 1024)                                         \
	F(S, STR, cwd, 4096)                                                  \
	F(S, STR, source, 4096)                                               \
	F(S, U32, want, 0)                                                    \
	F(S, STR, object, 4096)
#define DM_FIELDS_JOB_RESULT(F, S)                                            \
	F(S, U32, status, 0)                                                  \
	F(S, U32, flags, 0)                                                   \
	F(S, U32, cpu_ms, 0)                                                  \
	F(S, U32, wall_ms, 0)
#define DM_FIELDS_NEED_TOOLCHAIN(F, S) F(S, STR, toolchain, 128)
#define DM_FIELDS_TOOLCHAIN(F, S)                                             \
	F(S, STR, toolchain, 128) F(S, STR, hash, 128) F(S, U64, size, 0)
/* A job's extras (JOB.want DM_JOB_WANT_EXTRAS), after its unit. */
#define DM_FIELDS_JOB_ENV(F, S)                                               \
	F(S, STRV, env, 65536)                                                \
	F(S, U32, tty, 0)                                                     \
	F(S, U32, cols, 0)                                                    \
	F(S, U32, rows, 0)
#define DM_FIELDS_JOB_FILE(F, S) F(S, STR, path, 4096) F(S, U64, size, 0)
#define DM_FIELDS_JOB_START(F, S)
/* Files named by content: paths[i] has BLAKE2b-256 hashes[32i..32i+31];
 * the node answers which it lacks (bit i of need: send paths[i]). */
#define DM_JOB_FILES_MAX 4096
#define DM_FIELDS_JOB_FILES(F, S)                                             \
	F(S, STRV, paths, 256 * 1024)                                         \
	F(S, BLOB, hashes, DM_JOB_FILES_MAX * 32)
#define DM_FIELDS_JOB_FILES_NEED(F, S) F(S, BLOB, need, DM_JOB_FILES_MAX / 8)
#define DM_FIELDS_LOCAL_ACQUIRE(F, S)                                         \
	F(S, U32, pid, 0) F(S, STR, compiler, 4096) F(S, STR, name, 256)
#define DM_FIELDS_LOCAL_GRANTED(F, S)                                         \
	F(S, U32, remote, 0) F(S, STR, toolchain, 128) F(S, STR, role, 16)
#define DM_FIELDS_LOCAL_RELEASE(F, S)
#define DM_FIELDS_OUTCOME(F, S)                                               \
	F(S, U32, kind, 0) F(S, U64, ticket, 0) F(S, U32, cpu_ms, 0)
#define DM_FIELDS_TOOLCHAIN_REQ(F, S) F(S, STR, toolchain, 128)
#define DM_FIELDS_TOOLCHAIN_ARCHIVE(F, S)                                     \
	F(S, STR, toolchain, 128)                                             \
	F(S, STR, path, 4096)                                                 \
	F(S, STR, hash, 128)                                                  \
	F(S, U64, size, 0)                                                    \
	F(S, STR, error, 1024)
#define DM_FIELDS_TOOLCHAIN_SENT(F, S)                                        \
	F(S, STR, toolchain, 128) F(S, U64, bytes, 0) F(S, U32, wall_ms, 0)
/* A shim's connection to a node through its coordinator (protocol.md,
 * "Relay"): the first message of a connection of its own. */
#define DM_FIELDS_RELAY(F, S) F(S, STR, node_addr, 256)
#define DM_FIELDS_RELAY_OK(F, S)
#define DM_FIELDS_RELAY_FAIL(F, S) F(S, U32, code, 0) F(S, STR, reason, 1024)
/* A file's identity for the coordinator's hash memory: device, inode,
 * size, mtime and ctime in ns, 5 big-endian u64. */
#define DM_HASH_KEY 40
#define DM_FIELDS_HASH_REQ(F, S) F(S, BLOB, keys, DM_JOB_FILES_MAX * DM_HASH_KEY)
#define DM_FIELDS_HASH_ANS(F, S)                                              \
	F(S, BLOB, hashes, DM_JOB_FILES_MAX * 32)                             \
	F(S, BLOB, known, DM_JOB_FILES_MAX / 8)
#define DM_FIELDS_HASH_PUT(F, S)                                              \
	F(S, BLOB, keys, DM_JOB_FILES_MAX * DM_HASH_KEY)                      \
	F(S, BLOB, hashes, DM_JOB_FILES_MAX * 32)

/* JOB_END.result and JOB_RESULT */
enum {
	DM_JOB_OK = 0,
	DM_JOB_COMPILE_ERROR = 1,
	DM_JOB_INFRA = 2,     /* the node failed: counts against it */
	DM_JOB_ABANDONED = 3, /* the client went away: counts against no one */
};
#define DM_JOB_WANT_OBJECT 0x1u	  /* JOB.want: return the object */
#define DM_JOB_WANT_TOOLCHAIN 0x2u /* JOB.want: the shim answers
				      NEED_TOOLCHAIN with the archive */
#define DM_JOB_WANT_EXTRAS 0x4u /* JOB.want: JOB_ENV, JOB_FILES, JOB_FILE
				  and JOB_START follow the unit */
#define DM_JOB_WANT_DWO 0x8u /* JOB.want: return the .dwo of the object
			       named JOB.object (-gsplit-dwarf) */
#define DM_JOB_TTY_STDIN 0x1u  /* JOB_ENV.tty: the client's stdin is a tty */
#define DM_JOB_TTY_STDERR 0x2u /* JOB_ENV.tty: its stderr is a terminal */
#define DM_JOB_RESULT_OBJECT 0x1u /* JOB_RESULT.flags: object stream has data */
#define DM_JOB_RESULT_INFRA 0x2u  /* the node failed, not the compiler */
#define DM_JOB_RESULT_DWO 0x4u	  /* a third stream follows: the .dwo */
/* DEMAND.want: the build cannot tell; the scheduler judges by its use */
#define DM_DEMAND_UNKNOWN 0xffffffffu
/* OUTCOME.kind */
enum { DM_OUTCOME_REMOTE = 0, DM_OUTCOME_LOCAL = 1, DM_OUTCOME_FALLBACK = 2 };
/* Handshake roles */
enum { DM_ROLE_NODE = 1, DM_ROLE_BUILD = 2, DM_ROLE_SHIM = 3, DM_ROLE_MONITOR = 4 };

#endif
