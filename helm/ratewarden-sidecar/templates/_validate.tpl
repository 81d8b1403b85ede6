{{/*
Checks of the sidecar values a service chart passes (its `ratewarden:` block), run by
ratewarden-sidecar.values, so by every template of this library: unknown keys, types, enums,
ranges and formats fail the render (helm template, install, upgrade), naming every bad value.

Why here and not (only) in a values.schema.json: helm validates a chart's schema against that
chart's own values scope. A library chart's schema would see `.Values.ratewarden-sidecar`, never the
block the service chart hands to the templates, and a service chart's schema cannot $ref a file of
the library (helm resolves a relative $ref against /, not against the chart). So the library checks
the block itself, in any chart, with or without a schema. helm lint, though, only logs `fail`: for
lint, the same rules ship as ../sidecar-values.schema.json, which a service chart puts under
properties.ratewarden of its own values.schema.json (helm/example-service does).

ratewarden-sidecar.valuesSchema is a subset of JSON Schema: type (string or list: null, boolean,
integer, number, string, object, array), enum, minimum, maximum, pattern, properties,
additionalProperties (false, or a schema for every other key), required, items; plus `expected`
(what a value failing `pattern` should look like, for the message) and `hint` (appended to any
message about that value), which JSON Schema validators ignore. Every key of _defaults.tpl must be
declared (the defaults are checked with the caller's values). After changing it, regenerate the
JSON files: node --import tsx test/helm/sidecarSchema.ts (test/helm/injection.test.ts checks them).
*/}}
{{- define "ratewarden-sidecar.valuesSchema" -}}
type: object
additionalProperties: false
properties:
  enabled: { type: boolean }
  image:
    type: object
    additionalProperties: false
    properties:
      repository: { type: string, pattern: '^[^\s:@]+(:[0-9]+)?(/[^\s:@]+)*$', expected: 'an image repository such as ratewarden/ratewarden' }
      tag:
        type: string
        pattern: '^$|^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
        expected: 'an image tag'
        hint: 'put it in quotes (tag: "1.10", not tag: 1.10, which YAML reads as the number 1.1) or use --set-string'
      digest: { type: string, pattern: '^$|^sha256:[0-9a-f]{64}$', expected: 'sha256: followed by 64 hex digits, or empty' }
      pullPolicy: { enum: [Always, IfNotPresent, Never] }
  upstreamPort: { type: [integer, "null"], minimum: 1, maximum: 65535 }
  upstream: { type: string }
  listenPort: &port { type: integer, minimum: 1, maximum: 65535 }
  adminPort: *port
  serviceName: { type: string }
  policy: { type: [object, string, "null"], hint: 'the policy file as a YAML map or as a string' }
  existingPolicyConfigMap: { type: string }
  policyKey: &key { type: string, pattern: '^[-._a-zA-Z0-9]+$', expected: 'a ConfigMap or Secret key (letters, digits, -, _ and .)' }
  restartOnPolicyChange: { type: boolean }
  drainSeconds: { type: integer, minimum: 0, maximum: 86400 }
  shutdownDelaySeconds: { type: integer, minimum: 0, maximum: 300 }
  maxConnections: { type: integer, minimum: 1, maximum: 1000000 }
  redis:
    type: object
    additionalProperties: false
    properties:
      mode: { enum: [none, single, cluster] }
      url: { type: string, pattern: '^$|^rediss?://', expected: 'a redis:// or rediss:// URL' }
      clusterNodes: { type: array, items: &hostPort { type: string, pattern: '^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$', expected: 'host:port' } }
      username: { type: string }
      auth:
        type: object
        additionalProperties: false
        properties:
          enabled: { type: boolean }
      tls: &tls
        type: object
        additionalProperties: false
        properties:
          enabled: { type: boolean }
          caSecret: { type: string }
          caKey: *key
  kafka:
    type: object
    additionalProperties: false
    properties:
      brokers: { type: array, items: *hostPort }
      eventsTopic: { type: string, pattern: '^$|^[A-Za-z0-9._-]{1,249}$', expected: 'a Kafka topic name' }
      tls: *tls
      sasl:
        type: object
        additionalProperties: false
        properties:
          mechanism: { enum: ["", plain, scram-sha-256, scram-sha-512] }
          username: { type: string }
  secrets:
    type: object
    additionalProperties: false
    properties:
      existingSecret: { type: string }
      requireHashKey: { type: boolean }
      jwtSecretEnv: { type: string, pattern: '^$|^[A-Za-z_][A-Za-z0-9_]*$', expected: 'an environment variable name' }
  resources:
    type: object
    additionalProperties: false
    properties:
      requests: &quantities
        type: object
        additionalProperties:
          type: [string, number]
          minimum: 0
          pattern: '^\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$'
          expected: 'a Kubernetes quantity such as 256Mi, 1Gi, 500m or 0.5'
      limits: *quantities
      claims: { type: array, items: { type: object, required: [name] } }
  probes:
    type: object
    additionalProperties: false
    properties:
      startup: &probeOnce
        type: object
        additionalProperties: false
        properties:
          periodSeconds: &atLeast1 { type: integer, minimum: 1 }
          timeoutSeconds: *atLeast1
          failureThreshold: *atLeast1
          successThreshold: { type: integer, minimum: 1, maximum: 1, hint: 'Kubernetes requires 1 for startup and liveness probes' }
          initialDelaySeconds: { type: integer, minimum: 0 }
          terminationGracePeriodSeconds: *atLeast1
      liveness: *probeOnce
      readiness:
        type: object
        additionalProperties: false
        properties:
          periodSeconds: *atLeast1
          timeoutSeconds: *atLeast1
          failureThreshold: *atLeast1
          successThreshold: *atLeast1
          initialDelaySeconds: { type: integer, minimum: 0 }
  extraEnv: { type: array, items: { type: object, required: [name] } }
  extraVolumeMounts: { type: array, items: { type: object, required: [name, mountPath] } }
  networkPolicy:
    type: object
    additionalProperties: false
    properties:
      enabled: { type: boolean }
      proxyFrom: &objects { type: array, items: { type: object } }
      adminFrom: *objects
      extraIngress: *objects
  podMonitor:
    type: object
    additionalProperties: false
    properties:
      enabled: { type: boolean }
      interval: &duration { type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$', expected: 'a duration such as 30s, 1m or 1m30s (Prometheus)' }
      scrapeTimeout: *duration
      labels: { type: object, additionalProperties: { type: string } }
{{- end -}}

{{/* Fails, listing every problem, unless the merged values (a map) meet ratewarden-sidecar.valuesSchema. */}}
{{- define "ratewarden-sidecar.checkValues" -}}
{{- $errors := dict "list" list -}}
{{- $schema := fromYaml (include "ratewarden-sidecar.valuesSchema" .) -}}
{{- $_ := include "ratewarden-sidecar.checkNode" (dict "value" . "schema" $schema "path" "ratewarden" "errors" $errors) -}}
{{- with $errors.list -}}
{{- fail (printf "invalid sidecar values (see helm/README.md, \"Sidecar values\"):\n  - %s" (join "\n  - " .)) -}}
{{- end -}}
{{- end -}}

{{/* One value against one schema node. Argument: dict value schema path errors (dict with "list"). */}}
{{- define "ratewarden-sidecar.checkNode" -}}
{{- $v := .value -}}
{{- $s := .schema -}}
{{- $p := .path -}}
{{- $errors := .errors -}}
{{- $hint := "" -}}
{{- if $s.hint }}{{ $hint = printf ": %s" $s.hint }}{{ end -}}
{{- $t := include "ratewarden-sidecar.jsonType" $v -}}
{{- $problems := list -}}
{{- $typeOk := true -}}
{{- if hasKey $s "type" -}}
{{- $types := $s.type -}}
{{- if kindIs "string" $types }}{{ $types = list $types }}{{ end -}}
{{- if not (or (has $t $types) (and (eq $t "integer") (has "number" $types))) -}}
{{- $typeOk = false -}}
{{- $words := list -}}
{{- range $types }}{{ $words = append $words (get (dict "null" "null" "boolean" "a boolean" "integer" "an integer" "number" "a number" "string" "a string" "object" "a map" "array" "a list") .) }}{{ end -}}
{{- $expected := last $words -}}
{{- if gt (len $words) 1 }}{{ $expected = printf "%s or %s" (join ", " (initial $words)) (last $words) }}{{ end -}}
{{- $problems = append $problems (printf "%s must be %s, not %s" $p $expected (include "ratewarden-sidecar.describe" $v)) -}}
{{- end -}}
{{- end -}}
{{- if $typeOk -}}
{{- if and (hasKey $s "enum") (not (has $v $s.enum)) -}}
{{- $choices := list -}}
{{- range $s.enum }}{{ $choices = append $choices (ternary (quote .) (toString .) (eq (toString .) "")) }}{{ end -}}
{{- $problems = append $problems (printf "%s must be one of %s (got %s)" $p (join ", " $choices) (include "ratewarden-sidecar.repr" $v)) -}}
{{- end -}}
{{- if or (eq $t "integer") (eq $t "number") -}}
{{- if and (hasKey $s "minimum") (lt (float64 $v) (float64 $s.minimum)) -}}
{{- $problems = append $problems (printf "%s must be at least %s (got %s)" $p (include "ratewarden-sidecar.repr" $s.minimum) (include "ratewarden-sidecar.repr" $v)) -}}
{{- end -}}
{{- if and (hasKey $s "maximum") (gt (float64 $v) (float64 $s.maximum)) -}}
{{- $problems = append $problems (printf "%s must be at most %s (got %s)" $p (include "ratewarden-sidecar.repr" $s.maximum) (include "ratewarden-sidecar.repr" $v)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $t "string") (hasKey $s "pattern") (not (regexMatch $s.pattern $v)) -}}
{{- $problems = append $problems (printf "%s must be %s (got %q)" $p (default (printf "a string matching %s" $s.pattern) $s.expected) $v) -}}
{{- end -}}
{{- if eq $t "object" -}}
{{- range $s.required -}}
{{- if not (hasKey $v .) -}}
{{- $problems = append $problems (printf "%s.%s is required" $p .) -}}
{{- end -}}
{{- end -}}
{{- $props := default (dict) $s.properties -}}
{{- range $k := keys $v | sortAlpha -}}
{{- $path := printf "%s.%s" $p $k -}}
{{- if hasKey $props $k -}}
{{- $_ := include "ratewarden-sidecar.checkNode" (dict "value" (get $v $k) "schema" (get $props $k) "path" $path "errors" $errors) -}}
{{- else if kindIs "map" $s.additionalProperties -}}
{{- $_ := include "ratewarden-sidecar.checkNode" (dict "value" (get $v $k) "schema" $s.additionalProperties "path" $path "errors" $errors) -}}
{{- else if and (hasKey $s "additionalProperties") (not $s.additionalProperties) -}}
{{- $problems = append $problems (printf "unknown key %s (a typo? %s takes %s)" $path $p (join ", " (keys $props | sortAlpha))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (eq $t "array") $s.items -}}
{{- range $i, $item := $v -}}
{{- $_ := include "ratewarden-sidecar.checkNode" (dict "value" $item "schema" $s.items "path" (printf "%s[%d]" $p $i) "errors" $errors) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $problems -}}
{{- $_ := set $errors "list" (append $errors.list (printf "%s%s" . $hint)) -}}
{{- end -}}
{{- end -}}

{{/* The JSON type of a value: null, boolean, integer, number, string, object, array. Numbers read
from a values file are float64s; a whole one counts as an integer. */}}
{{- define "ratewarden-sidecar.jsonType" -}}
{{- $k := kindOf . -}}
{{- if eq $k "invalid" -}}null
{{- else if eq $k "bool" -}}boolean
{{- else if eq $k "string" -}}string
{{- else if eq $k "map" -}}object
{{- else if or (eq $k "slice") (eq $k "array") -}}array
{{- else if has $k (list "int" "int8" "int16" "int32" "int64" "uint" "uint8" "uint16" "uint32" "uint64") -}}integer
{{- else if has $k (list "float32" "float64") -}}{{ if eq (float64 .) (float64 (int64 .)) }}integer{{ else }}number{{ end }}
{{- else -}}{{ $k }}
{{- end -}}
{{- end -}}

{{/* A value as the user wrote it: "text" quoted, 20260101 (not 2.0260101e+07), true, null. */}}
{{- define "ratewarden-sidecar.repr" -}}
{{- $t := include "ratewarden-sidecar.jsonType" . -}}
{{- if eq $t "string" -}}{{ printf "%q" . }}
{{- else if eq $t "integer" -}}{{ int64 . }}
{{- else if eq $t "null" -}}null
{{- else if eq $t "object" -}}a map
{{- else if eq $t "array" -}}a list
{{- else -}}{{ toString . }}
{{- end -}}
{{- end -}}

{{/* A value and what it is, for type errors: "http" (a string), 1.2 (a number), a map. */}}
{{- define "ratewarden-sidecar.describe" -}}
{{- $t := include "ratewarden-sidecar.jsonType" . -}}
{{- $kinds := dict "string" "a string" "integer" "a number" "number" "a number" "boolean" "a boolean" -}}
{{- include "ratewarden-sidecar.repr" . -}}
{{- if hasKey $kinds $t }} ({{ get $kinds $t }}){{ end -}}
{{- end -}}
