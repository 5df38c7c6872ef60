// Reads resource documents as users write them: multi-document YAML (Kuscia
// style, `---` separated), a JSON object, or a JSON array / Kubernetes List.
import YAML from 'yaml';

export function parseDocuments(text: string, source = 'input'): unknown[] {
  const docs = YAML.parseAllDocuments(text, { prettyErrors: true });
  const out: unknown[] = [];
  docs.forEach((doc, i) => {
    if (doc.errors.length) {
      const err = doc.errors[0]!;
      const pos = err.linePos?.[0];
      throw new Error(`${source}: document ${i + 1}: invalid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${err.message.split('\n')[0]}`);
    }
    const value = doc.toJS();
    if (value === null || value === undefined) return; // empty document, e.g. a trailing ---
    if (Array.isArray(value)) out.push(...value);
    else if (value.kind === 'List' && Array.isArray(value.items)) out.push(...value.items);
    else out.push(value);
  });
  return out;
}

/** Strict UTF-8: invalid bytes are refused, never turned into U+FFFD. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const lossy = Buffer.from(bytes).toString('utf8');
    const at = lossy.indexOf('\uFFFD');
    const line = lossy.slice(0, Math.max(0, at)).split('\n').length;
    throw Object.assign(new Error(`${source}: invalid UTF-8 at line ${line}: save it as UTF-8 (no other encoding is read)`), { statusCode: 400 });
  }
}
