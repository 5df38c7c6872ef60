// The served protos as gRPC server reflection hands them out. proto-loader
// describes each package as one file, with type names relative to their scope
// and no imports, which strict clients (grpcurl's Go protodesc) cannot link:
// "RequestHeader not found". Here every type name is made fully qualified and
// each file imports the files whose types it uses. Pure, on descriptors.
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import type protobuf from 'protobufjs';
import descriptorExt from 'protobufjs/ext/descriptor/index.js';
import { PROTO_DIR, PROTO_FILES } from './protos.ts';

const { FileDescriptorProto } = descriptorExt as unknown as { FileDescriptorProto: protobuf.Type };

interface Field { typeName?: string }
interface Message { name: string; field?: (Field & { name: string })[]; nestedType?: Message[]; enumType?: { name: string }[]; options?: { mapEntry?: boolean } }
interface Service { method?: { inputType?: string; outputType?: string }[] }
interface FileDescriptor { name: string; package?: string; dependency?: string[]; messageType?: Message[]; enumType?: { name: string }[]; service?: Service[] }

/** Fully qualified type names, each file importing what it uses (encoded FileDescriptorProtos in, out). */
export function linkedDescriptors(encoded: Uint8Array[]): Buffer[] {
  const files = encoded.map((b) => FileDescriptorProto.toObject(FileDescriptorProto.decode(b), { arrays: true }) as FileDescriptor);
  for (const f of files) renameMapEntries(f.messageType);
  // Every message and enum by full name -> its file.
  const where = new Map<string, string>();
  const index = (prefix: string, file: string, messages: Message[] = [], enums: { name: string }[] = []) => {
    for (const e of enums) where.set(`${prefix}.${e.name}`, file);
    for (const m of messages) {
      where.set(`${prefix}.${m.name}`, file);
      index(`${prefix}.${m.name}`, file, m.nestedType, m.enumType);
    }
  };
  for (const f of files) index(f.package ? `.${f.package}` : '', f.name, f.messageType, f.enumType);
  for (const f of files) {
    const deps = new Set<string>();
    // Protobuf's scoping: the innermost enclosing scope that has the name wins.
    const resolve = (scope: string, name: string | undefined): string | undefined => {
      if (!name) return name;
      let full = name.startsWith('.') ? name : undefined;
      for (let s = scope; !full; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
        if (where.has(`${s}.${name}`)) full = `${s}.${name}`;
        else if (!s) break;
      }
      const file = full && where.get(full);
      if (file && file !== f.name) deps.add(file);
      return full ?? name;
    };
    const pkg = f.package ? `.${f.package}` : '';
    const walk = (scope: string, messages: Message[] = []) => {
      for (const m of messages) {
        const inner = `${scope}.${m.name}`;
        for (const field of m.field ?? []) if (field.typeName) field.typeName = resolve(inner, field.typeName);
        walk(inner, m.nestedType);
      }
    };
    walk(pkg, f.messageType);
    for (const s of f.service ?? []) {
      for (const m of s.method ?? []) {
        m.inputType = resolve(pkg, m.inputType);
        m.outputType = resolve(pkg, m.outputType);
      }
    }
    f.dependency = [...deps].sort();
  }
  return files.map((f) => Buffer.from(FileDescriptorProto.encode(FileDescriptorProto.fromObject(f)).finish()));
}

/** protoc names a map field's entry <CamelCaseField>Entry (Go checks it); protobufjs writes <Ucfirst_field>Entry. */
function renameMapEntries(messages: Message[] = []): void {
  for (const m of messages) {
    for (const entry of m.nestedType ?? []) {
      if (!entry.options?.mapEntry) continue;
      const field = m.field?.find((x) => x.typeName === entry.name || x.typeName?.endsWith(`.${entry.name}`));
      if (!field) continue;
      const name = `${field.name.replace(/(?:^|_)([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/_/g, '')}Entry`;
      field.typeName = field.typeName!.slice(0, field.typeName!.length - entry.name.length) + name;
      entry.name = name;
    }
    renameMapEntries(m.nestedType);
  }
}

let reflected: PackageDefinition | undefined;

/** The served protos as proto-loader reads them, their descriptors linked (once). */
export function reflectionPackage(): PackageDefinition {
  if (reflected) return reflected;
  const def = loadSync(PROTO_FILES.map((f) => `${PROTO_DIR}/${f}`), { keepCase: true, includeDirs: [PROTO_DIR] });
  const linked = new Map<Buffer[], Buffer[]>();
  for (const entry of Object.values(def)) {
    const e = entry as { fileDescriptorProtos?: Buffer[] };
    if (!e.fileDescriptorProtos) continue;
    const from = e.fileDescriptorProtos;
    if (!linked.has(from)) linked.set(from, linkedDescriptors(from));
    e.fileDescriptorProtos = linked.get(from)!;
  }
  reflected = def;
  return def;
}
