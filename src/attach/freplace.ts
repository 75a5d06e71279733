// freplace (BPF_PROG_TYPE_EXT): a program that replaces a global function of another loaded BPF
// program. It is loaded against that program (attach_prog_fd, and attach_btf_id = the function's
// FUNC id in the target program's BTF; libbpf's bpf_program__set_attach_target) and attached with
// BPF_LINK_CREATE (libbpf's bpf_program__attach_freplace), either to the target it was loaded
// against or to another program that has a function of the same signature.

import { Btf, BTF_KIND } from '../../btf/index.js';
import { type Fd, btfGetFdById, btfInfo, linkCreate, progInfo } from '../../syscalls/index.js';
import { BpfError, StateError } from '../errors.js';
import { Link } from '../link.js';
import { sectionTarget } from '../section-defs.js';
import { type AttachableProgram, explainAttach, progFd } from './common.js';

/** A target program: a loaded Program (anything with an fd) or a program fd. */
export type FreplaceTarget = number | { readonly fd: number; readonly name?: string };

/** What setAttachTarget recorded; resolved at load. */
export interface AttachTargetSpec {
  target: FreplaceTarget;
  funcName: string | undefined;
}

const targetFd = (t: FreplaceTarget): number => (typeof t === 'number' ? t : t.fd);
const targetLabel = (t: FreplaceTarget): string => (typeof t === 'number' ? `prog fd ${t}` : t.name ? `prog '${t.name}'` : `prog fd ${t.fd}`);

/** The BTF id of global function `funcName` in the BTF a loaded program was loaded with. */
export function progFuncBtfId(target: FreplaceTarget, funcName: string, what: string): number {
  const fd = targetFd(target);
  const info = progInfo(fd, { mapIds: false });
  if (!info.btfId) {
    throw new BpfError(`${what}: ${targetLabel(target)} was loaded without BTF, so its functions cannot be replaced`, {
      errno: 22, cmd: 'freplace', advice: 'compile the target with -g and load it with its BTF',
    });
  }
  let btfFd: Fd | undefined;
  let btf: Btf;
  try {
    btfFd = btfGetFdById(info.btfId, `btf of ${targetLabel(target)}`);
    btf = Btf.parse(btfInfo(btfFd.fd, { data: true }).data!);
  } finally {
    btfFd?.close();
  }
  const id = btf.findOne(funcName, BTF_KIND.FUNC);
  if (id === undefined) {
    throw new BpfError(`${what}: ${targetLabel(target)} has no function '${funcName}' in its BTF`, {
      errno: 3, cmd: 'freplace', advice: 'only global (non-static, non-inlined) functions of the target can be replaced; mark it __noinline and not static',
    });
  }
  return id;
}

/** The function named by SEC("freplace/<func>"), if any. */
export function freplaceSectionFunc(prog: AttachableProgram): string | undefined {
  const def = prog.spec.sectionDef;
  if (!def) return undefined;
  return sectionTarget(def, prog.sectionName.replace(/^\?/, '')) || undefined;
}

/** For the loader: attach_prog_fd and attach_btf_id of an EXT program (libbpf's libbpf_find_attach_btf_id). */
export function resolveFreplaceTarget(prog: AttachableProgram, spec: AttachTargetSpec | undefined): { id: number; progFd: number } {
  const what = `prog '${prog.name}' (freplace)`;
  if (!spec) {
    throw new StateError(`${what}: an freplace program is loaded against the program whose function it replaces, and none was given`, {
      errno: 22, cmd: 'BPF_PROG_LOAD', program: prog.name,
      advice: 'call prog.setAttachTarget(targetProgram, "func") before load (the target must be loaded first)',
    });
  }
  const func = spec.funcName ?? freplaceSectionFunc(prog);
  if (!func) {
    throw new BpfError(`${what}: no function to replace`, { errno: 22, cmd: 'BPF_PROG_LOAD', program: prog.name, advice: 'name it: setAttachTarget(target, "func") or SEC("freplace/func")' });
  }
  return { id: progFuncBtfId(spec.target, func, what), progFd: targetFd(spec.target) };
}

/**
 * Attaches an freplace program (libbpf's bpf_program__attach_freplace). With no arguments, to the
 * target it was loaded against; with a target and function, to that (same signature required).
 */
export function attachFreplace(prog: AttachableProgram, target?: FreplaceTarget, funcName?: string): Link {
  const pfd = progFd(prog);
  if ((target === undefined) !== (funcName === undefined)) {
    throw new BpfError(`prog '${prog.name}': attachFreplace takes both a target program and a function name, or neither`, { errno: 22, cmd: 'freplace' });
  }
  const label = target === undefined ? `freplace ${freplaceSectionFunc(prog) ?? '(load-time target)'}` : `freplace ${targetLabel(target)}:${funcName}`;
  const what = `attaching prog '${prog.name}' to ${label}`;
  let fd: Fd;
  try {
    if (target === undefined) {
      fd = linkCreate(pfd, 0, 0, {}, `link ${label}`);
    } else {
      const id = progFuncBtfId(target, funcName!, what);
      fd = linkCreate(pfd, targetFd(target), 0, { targetBtfId: id }, `link ${label}`);
    }
  } catch (e) {
    if (e instanceof BpfError && e.errno === 22 && !e.advice) {
      throw new BpfError(`${what}: ${e.message}`, {
        errno: 22, cmd: e.cmd, syscall: e.syscall, cause: e,
        advice: 'the function must be global with the same signature as the one the program was loaded against, and the target must be an XDP/tc/... program with BTF; a program loaded against a target that is replaced already needs a target here',
      });
    }
    explainAttach(e, what, prog);
  }
  return new Link({ kind: 'freplace', mechanism: 'bpf_link', target: label, program: prog.name, fd });
}
