// cgroup programs (cgroup_skb, cgroup/sock*, sockops, cgroup/dev, sysctl, sockopt, lsm_cgroup):
// a cgroup link (Linux 5.7), or BPF_PROG_ATTACH with its flags, the pre-link way.

import { openSync } from 'node:fs';
import { type Fd, ATTACH_FLAGS, Fd as FdClass, linkCreate, progAttach, progDetach, progInfo } from '../../syscalls/index.js';
import { progQuery } from '../../syscalls/link-query.js';
import { dupRawFd } from '../../syscalls/sockets.js';
import { BpfError, NotSupportedError } from '../errors.js';
import { Link, type ProgramRef } from '../link.js';
import {
  type AttachableProgram, attachTypeName, attachTypeOf, closingOnError, dupProgFd, expectedAttachTypeOf, explainAttach, progFd,
} from './common.js';
import { explainMprog, mprogPosition, type MprogOptions } from './net.js';

export interface CgroupOptions extends MprogOptions {
  /**
   * Attach with BPF_PROG_ATTACH instead of a link. The attachment then outlives the process unless
   * closed (tsbpf detaches it at exit and on SIGINT/SIGTERM/SIGHUP).
   */
  legacy?: boolean;
  /**
   * PROG_ATTACH flags: 0 (the only program; fails if another is attached), ALLOW_OVERRIDE (a
   * descendant may override), ALLOW_MULTI (several programs run in order). Implies legacy.
   */
  flags?: number;
  /** With ALLOW_MULTI: replace this program atomically (BPF_F_REPLACE). Implies legacy. */
  replace?: ProgramRef;
}

/** Opens a cgroup v2 directory. */
export function openCgroup(path: string): Fd {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BpfError(`cannot open cgroup ${path}: ${err.message}`, {
      errno: Math.abs(err.errno ?? 2), cmd: 'open', cause: e,
      advice: 'give a cgroup v2 directory (e.g. /sys/fs/cgroup/<group>, or /sys/fs/cgroup/unified/<group> on hybrid systems)',
    });
  }
  return new FdClass(fd, `cgroup ${path}`);
}

/** Programs on a cgroup (a v2 directory path or an open fd); the attach type defaults to the section's. */
export function attachCgroup(prog: AttachableProgram, cgroup: string | number, attachType?: number | string, opts: CgroupOptions = {}): Link {
  const type = attachType === undefined ? expectedAttachTypeOf(prog, 'a cgroup attachment') : attachTypeOf(attachType);
  const cg = typeof cgroup === 'number' ? dupRawFd(cgroup, `cgroup fd ${cgroup}`) : openCgroup(cgroup);
  const target = `cgroup ${typeof cgroup === 'number' ? `fd ${cgroup}` : cgroup} ${attachTypeName(type)}`;
  const what = `attaching prog '${prog.name}' to ${target}`;
  const legacy = opts.legacy || opts.flags !== undefined || opts.replace !== undefined;
  if (!legacy) {
    let fd: Fd;
    try {
      fd = linkCreate(progFd(prog), cg.fd, type, mprogPosition(opts), `link ${target}`);
    } catch (e) {
      explainMprog(e, what);
      explainAttach(e, what, prog);
    } finally {
      cg.close();
    }
    return new Link({ kind: 'cgroup', mechanism: 'bpf_link', target, program: prog.name, fd });
  }
  const owned: Fd[] = [cg];
  return closingOnError(owned, () => {
    owned.push(dupProgFd(prog));
    let flags = opts.flags ?? 0;
    const pos = mprogPosition(opts);
    flags |= pos.flags;
    let replaceFd: number | undefined;
    if (opts.replace !== undefined) {
      replaceFd = typeof opts.replace === 'number' ? opts.replace : opts.replace.fd;
      flags |= ATTACH_FLAGS.REPLACE;
    }
    try {
      progAttach(owned[1]!.fd, cg.fd, type, { ...pos, flags, replaceProgFd: replaceFd });
    } catch (e) {
      if (e instanceof BpfError && e.errno === 1 && !e.advice) {
        throw new BpfError(`${what}: ${e.message}`, {
          errno: 1, cmd: 'BPF_PROG_ATTACH', cause: e,
          advice: 'a program is already attached to this hook without ALLOW_MULTI/ALLOW_OVERRIDE, or a parent cgroup forbids overriding',
        });
      }
      explainAttach(e, what, prog);
    }
    // What the hook accepts for an in-place update: REPLACE for multi-program hooks, a plain
    // re-attach for override hooks.
    const update = (newFd: number, oldFd: number | undefined): void => {
      const dup = dupRawFd(newFd, `prog fd ${newFd} (held by its link)`);
      try {
        if (flags & ATTACH_FLAGS.ALLOW_MULTI) {
          progAttach(dup.fd, cg.fd, type, { flags: ATTACH_FLAGS.ALLOW_MULTI | ATTACH_FLAGS.REPLACE, replaceProgFd: oldFd ?? owned[1]!.fd });
        } else if (flags & ATTACH_FLAGS.ALLOW_OVERRIDE) {
          progAttach(dup.fd, cg.fd, type, { flags: ATTACH_FLAGS.ALLOW_OVERRIDE });
        } else {
          throw new NotSupportedError(`${target}: a program attached without ALLOW_MULTI or ALLOW_OVERRIDE cannot be replaced in place`, { errno: 95, cmd: 'BPF_PROG_ATTACH' });
        }
      } catch (e) {
        dup.close();
        throw e;
      }
      owned[1]!.close();
      owned[1] = dup;
    };
    return new Link({
      kind: 'cgroup', mechanism: 'prog_attach', target, program: prog.name, owned,
      detach: () => {
        // On a hook without ALLOW_MULTI the kernel detaches whatever program is there, whichever
        // fd is given: make sure it is still ours (another attach may have replaced it).
        if (!(flags & ATTACH_FLAGS.ALLOW_MULTI)) {
          const ours = progInfo(owned[1]!.fd, { mapIds: false }).id;
          if (!progQuery(cg.fd, type).progIds.includes(ours)) return;
        }
        try {
          progDetach(owned[1]!.fd, cg.fd, type);
        } catch (e) {
          // ENOENT: it was detached behind our back.
          if (!(e instanceof BpfError && e.errno === 2)) throw e;
        }
      },
      update, outlivesProcess: true,
    });
  });
}
