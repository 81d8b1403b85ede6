/** A strict little XML well-formedness scanner for the SVG tests (no XML parser among the dependencies). */

/** Throws unless `xml` is one well-formed element tree (tags nest, attributes quoted, entities valid). */
export function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|([^<]+)|(<)/g;
  for (const m of xml.matchAll(token)) {
    const [, close, name, , selfClose, text, stray] = m;
    if (stray) throw new Error(`stray '<' at ${m.index}: ${xml.slice(m.index, m.index + 40)}`);
    if (text !== undefined) {
      if (stack.length === 0 && text.trim()) throw new Error(`text outside the root: ${text.slice(0, 40)}`);
      const bad = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(text);
      if (bad) throw new Error(`unescaped '&' in text: ${text.slice(0, 40)}`);
      continue;
    }
    if (!name) continue;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) throw new Error(`${roots} root elements`);
  for (const m of xml.matchAll(/="([^"]*)"/g)) if (/&(?!(?:amp|lt|gt|quot|apos|#\d+);)/.test(m[1]!)) throw new Error(`unescaped '&' in attribute: ${m[1]}`);
}

