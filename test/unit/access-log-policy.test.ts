import { test } from 'node:test';
import assert from 'node:assert/strict';
import { successLogPercent } from '../../control-plane/translate/access-log-policy.ts';
import { accessLogFilter } from '../../control-plane/xds/access-log.ts';

test('accessLog.successes: all (default), none, a percentage; anything else names the field', () => {
  assert.equal(successLogPercent({}), 100);
  assert.equal(successLogPercent({ accessLog: { successes: 'all' } }), 100);
  assert.equal(successLogPercent({ accessLog: { successes: 'none' } }), 0);
  assert.equal(successLogPercent({ accessLog: { successes: '10%' } }), 10);
  for (const bad of ['10', '101%', 'sometimes', '-5%']) assert.throws(() => successLogPercent({ accessLog: { successes: bad } }), /accessLog\.successes in ferry\.yaml/);
});

test('the filter: none when everything is logged; failures always, successes sampled', () => {
  assert.equal(accessLogFilter(100), undefined);
  const none = accessLogFilter(0) as { or_filter: { filters: object[] } };
  assert.equal(none.or_filter.filters.length, 3);
  const some = accessLogFilter(10) as { or_filter: { filters: { runtime_filter?: { percent_sampled: { numerator: number } } }[] } };
  assert.equal(some.or_filter.filters.at(-1)?.runtime_filter?.percent_sampled.numerator, 10);
});
