// Unit tests of reading resource documents (interop/documents.ts).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseDocuments } from '../../interop/documents.ts';

const domainYaml = `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata:
  name: bob
spec:
  role: partner
`;

const routeYaml = `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata:
  name: alice-bob
spec:
  source: alice
  destination: bob
  authenticationType: MTLS
  endpoint:
    host: bob.example.com
    ports:
      - name: http
        port: 1080
        protocol: HTTP
`;

describe('parseDocuments', () => {
  test('multi-document YAML gives one object per document, in order, with typed values', () => {
    const docs = parseDocuments(`${domainYaml}---\n${routeYaml}`) as any[];
    assert.equal(docs.length, 2);
    assert.equal(docs[0].kind, 'Domain');
    assert.equal(docs[0].metadata.name, 'bob');
    assert.equal(docs[1].kind, 'ClusterDomainRoute');
    assert.deepEqual(docs[1].spec.endpoint.ports, [{ name: 'http', port: 1080, protocol: 'HTTP' }]);
    assert.equal(typeof docs[1].spec.endpoint.ports[0].port, 'number');
  });

  test('a leading and a trailing --- add no documents', () => {
    const docs = parseDocuments(`---\n${domainYaml}---\n${routeYaml}---\n`);
    assert.deepEqual((docs as any[]).map((d) => d.kind), ['Domain', 'ClusterDomainRoute']);
  });

  test('empty and comment-only documents are skipped', () => {
    assert.deepEqual(parseDocuments(''), []);
    assert.deepEqual(parseDocuments('# nothing here\n---\n# still nothing\n---\n'), []);
    assert.deepEqual((parseDocuments(`# header\n---\n\n---\n${domainYaml}`) as any[]).map((d) => d.kind), ['Domain']);
  });

  test('a JSON object is one document', () => {
    assert.deepEqual(parseDocuments('{"kind": "Domain", "metadata": {"name": "bob"}}'), [{ kind: 'Domain', metadata: { name: 'bob' } }]);
  });

  test('a JSON array gives its items', () => {
    const docs = parseDocuments(JSON.stringify([{ kind: 'Domain', metadata: { name: 'bob' } }, { kind: 'Service', metadata: { name: 'echo' } }], null, 2));
    assert.deepEqual(docs, [{ kind: 'Domain', metadata: { name: 'bob' } }, { kind: 'Service', metadata: { name: 'echo' } }]);
  });

  test('a Kubernetes List (YAML or JSON) gives its items', () => {
    const yaml = `apiVersion: v1\nkind: List\nitems:\n  - kind: Domain\n    metadata: {name: bob}\n  - kind: Service\n    metadata: {name: echo}\n`;
    assert.deepEqual(parseDocuments(yaml), [{ kind: 'Domain', metadata: { name: 'bob' } }, { kind: 'Service', metadata: { name: 'echo' } }]);
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ kind: 'Domain', metadata: { name: 'bob' } }] });
    assert.deepEqual(parseDocuments(json), [{ kind: 'Domain', metadata: { name: 'bob' } }]);
  });

  test('a List mixed with plain documents keeps the order', () => {
    const text = `kind: Domain\nmetadata: {name: a}\n---\nkind: List\nitems:\n  - {kind: Domain, metadata: {name: b}}\n  - {kind: Domain, metadata: {name: c}}\n---\nkind: Domain\nmetadata: {name: d}\n`;
    assert.deepEqual((parseDocuments(text) as any[]).map((d) => d.metadata.name), ['a', 'b', 'c', 'd']);
  });

  test('a YAML syntax error names the source, the document number and the line', () => {
    const text = `${domainYaml}---\nkind: Service\nmetadata:\n  name: echo\nkind: Again\n`;
    // domainYaml is 6 lines, "---" is line 7, the duplicate key is line 11 of the file.
    assert.throws(() => parseDocuments(text, 'routes.yaml'), (e: Error) => {
      assert.match(e.message, /^routes\.yaml: document 2: invalid YAML at line 11, column 1: .*unique/);
      assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
      return true;
    });
  });

  test('an error in the first document is document 1; the default source is "input"', () => {
    assert.throws(() => parseDocuments('kind: Domain\nkind: Service\n'), /^Error: input: document 1: invalid YAML at line 2, column 1: .*unique/);
  });

  test('tabs used as indentation are reported with their line', () => {
    assert.throws(() => parseDocuments('kind: Domain\n---\nmetadata:\n\tname: x\n'), /document 2: invalid YAML at line 4, column 1: .*Tabs/);
  });

  test('a broken JSON input is reported too', () => {
    assert.throws(() => parseDocuments('[{"kind": "Domain"}', 'x.json'), /^Error: x\.json: document 1: invalid YAML at line \d+/);
  });
});
