// The descriptors KusciaAPI's server reflection hands out
// (control-plane/kusciaapi/reflection.ts): linkable by strict clients — every
// type name fully qualified and defined in the file itself or one it imports,
// map entries named as protoc names them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type protobuf from 'protobufjs';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';
import { reflectionPackage } from '../../control-plane/kusciaapi/reflection.ts';

const { FileDescriptorProto } = descriptorExt as unknown as { FileDescriptorProto: protobuf.Type };
type Msg = { name: string; field?: { name: string; typeName?: string }[]; nestedType?: Msg[]; enumType?: { name: string }[]; options?: { mapEntry?: boolean } };
type File = { name: string; package: string; dependency?: string[]; messageType?: Msg[]; enumType?: { name: string }[]; service?: { name: string; method: { inputType: string; outputType: string }[] }[] };

test('reflection descriptors: fully qualified names, each defined in the file or an import; protoc map entry names', () => {
  const def = reflectionPackage();
  const entry = def['kuscia.proto.api.v1alpha1.kusciaapi.DomainService'] as unknown as Record<string, { fileDescriptorProtos?: Buffer[] }>;
  const protos = Object.values(def).map((e) => (e as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos).find(Boolean)!;
  assert.ok(entry && protos.length >= 2);
  const files = protos.map((b) => FileDescriptorProto.toObject(FileDescriptorProto.decode(b), { arrays: true }) as File);
  const definedIn = new Map<string, string>();
  const index = (prefix: string, file: string, ms: Msg[] = [], es: { name: string }[] = []) => {
    for (const e of es) definedIn.set(`${prefix}.${e.name}`, file);
    for (const m of ms) { definedIn.set(`${prefix}.${m.name}`, file); index(`${prefix}.${m.name}`, file, m.nestedType, m.enumType); }
  };
  for (const f of files) index(`.${f.package}`, f.name, f.messageType, f.enumType);
  let checked = 0;
  let maps = 0;
  for (const f of files) {
    const reachable = new Set([f.name, ...(f.dependency ?? [])]);
    const see = (name: string, where: string) => {
      assert.match(name, /^\./, `${where}: ${name} is fully qualified`);
      assert.ok(reachable.has(definedIn.get(name)!), `${where}: ${name} is defined in ${f.name} or an import of it (${[...reachable].join(', ')})`);
      checked++;
    };
    const walk = (ms: Msg[] = []) => {
      for (const m of ms) {
        for (const x of m.field ?? []) if (x.typeName) see(x.typeName, `${m.name}.${x.name}`);
        for (const n of m.nestedType ?? []) {
          if (!n.options?.mapEntry) continue;
          maps++;
          const field = m.field!.find((x) => x.typeName?.endsWith(`.${n.name}`))!;
          assert.equal(n.name, `${field.name.split('_').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')}Entry`);
        }
        walk(m.nestedType);
      }
    };
    walk(f.messageType);
    for (const s of f.service ?? []) for (const m of s.method) { see(m.inputType, s.name); see(m.outputType, s.name); }
  }
  assert.ok(checked > 100, `${checked} references checked`);
  assert.ok(maps >= 2, 'map fields present (custom_headers, custom_fields)');
});
