/**
 * The sidecar values' JSON schema files, generated from the rules the ratewarden-sidecar templates
 * apply (the `ratewarden-sidecar.valuesSchema` define in templates/_validate.tpl):
 * helm/ratewarden-sidecar/sidecar-values.schema.json and the `ratewarden` property of
 * helm/example-service/values.schema.json. injection.test.ts checks both are up to date; after
 * changing the rules, rewrite them with
 *
 *   node --import tsx test/helm/sidecarSchema.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ROOT } from '../helpers/infra.js';

export const SIDECAR_SCHEMA_FILE = join(ROOT, 'helm', 'ratewarden-sidecar', 'sidecar-values.schema.json');
export const EXAMPLE_SCHEMA_FILE = join(ROOT, 'helm', 'example-service', 'values.schema.json');

/** The rules as the define writes them (YAML, anchors resolved), in their order. */
export function sidecarRules(): Record<string, unknown> {
  const tpl = readFileSync(join(ROOT, 'helm', 'ratewarden-sidecar', 'templates', '_validate.tpl'), 'utf8');
  const m = /\{\{- define "ratewarden-sidecar\.valuesSchema" -\}\}\n([\s\S]*?)\{\{- end -\}\}/.exec(tpl);
  if (!m) throw new Error('no ratewarden-sidecar.valuesSchema define in _validate.tpl');
  return parseYaml(m[1]!, { maxAliasCount: -1 }) as Record<string, unknown>;
}

/** The text both files must have. */
export function expectedSchemaFiles(): { sidecar: string; example: string } {
  const rules = sidecarRules();
  const sidecar = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'ratewarden sidecar values',
    description:
      "the `ratewarden:` block a service chart passes to the ratewarden-sidecar templates. The templates check it themselves; for `helm lint` to check it too, put this schema (without $schema, title and description) under properties.ratewarden of the chart's values.schema.json, as helm/example-service does. Generated from ratewarden-sidecar.valuesSchema (templates/_validate.tpl) by test/helm/sidecarSchema.ts.",
    ...rules,
  };
  const example = JSON.parse(readFileSync(EXAMPLE_SCHEMA_FILE, 'utf8')) as { properties: Record<string, unknown> };
  example.properties.ratewarden = { description: "the sidecar's values: helm/ratewarden-sidecar/sidecar-values.schema.json (the templates check the same)", ...rules };
  return { sidecar: `${JSON.stringify(sidecar, null, 2)}\n`, example: `${JSON.stringify(example, null, 2)}\n` };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const files = expectedSchemaFiles();
  writeFileSync(SIDECAR_SCHEMA_FILE, files.sidecar);
  writeFileSync(EXAMPLE_SCHEMA_FILE, files.example);
  console.log(`wrote ${SIDECAR_SCHEMA_FILE} and ${EXAMPLE_SCHEMA_FILE}`);
}
