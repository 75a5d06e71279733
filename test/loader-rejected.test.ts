// Differential test: rejected.bpf.c (programs the verifier refuses) through tsbpf and libbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfError, BpfObject } from '../src/index.js';
import { differential } from './support/differential.js';
import { rejectedDefaultScenario, rejectedDerefScenario, rejectedLoopScenario } from './support/scenarios.js';

const { objPath } = differential(test, rejectedDefaultScenario);
differential(test, rejectedDerefScenario, { tags: false });
differential(test, rejectedLoopScenario, { tags: false });

test('rejected: the load error is a VerifierError naming the program, with the log', async () => {
  const obj = BpfObject.open(objPath);
  let err: unknown;
  try {
    obj.programs.get('unchecked_lookup')!.autoload = true;
    await obj.load();
  } catch (e) {
    err = e;
  } finally {
    obj.close();
  }
  assert.ok(err instanceof BpfError, `load throws a BpfError (got ${String(err)})`);
  const e = err as BpfError;
  assert.is(e.name, 'VerifierError');
  assert.is(e.errno, 13);
  assert.is(e.code, 'EACCES');
  assert.is(e.program, 'unchecked_lookup');
  assert.match(e.log ?? '', "R0 invalid mem access 'map_value_or_null'");
});

test.run();
