// The Authorization header the UI sends once logged in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorization } from '../src/api';

test('authorization', () => {
  assert.equal(authorization({ kind: 'bearer', token: 'abc' }), 'Bearer abc');
  assert.equal(authorization({ kind: 'basic', user: 'grafana', password: 's3cret' }), 'Basic ' + Buffer.from('grafana:s3cret').toString('base64'));
  // Non-ASCII passwords are sent as UTF-8, as curl and Grafana send them.
  assert.equal(authorization({ kind: 'basic', user: 'é', password: 'ü' }), 'Basic ' + Buffer.from('é:ü', 'utf8').toString('base64'));
});
