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
