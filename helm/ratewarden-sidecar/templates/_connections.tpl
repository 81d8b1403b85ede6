{{/*
Environment and volumes for Redis and Kafka (models/infra.ts reads them), shared by the sidecar and
the analyzer so both programs always get the same connection settings from the same values shape.

Argument: dict
  redis, kafka     the values blocks (see _defaults.tpl)
  secretName       Secret holding REDIS_PASSWORD, KAFKA_SASL_PASSWORD, RW_HASH_KEY, the JWT secret ("" = none)
  requireHashKey   RW_HASH_KEY must exist (fail at install without a Secret; not optional in it)
  jwtSecretEnv     env var the policy reads the JWT secret from ("" = none)
  where            values path prefix for error messages, e.g. "ratewarden."
*/}}
{{- define "ratewarden-sidecar.connectionEnv" -}}
{{- $r := .redis -}}
{{- $k := .kafka -}}
{{- $s := .secretName -}}
{{- $w := .where -}}
{{- if eq $r.mode "single" }}
{{- $url := required (printf "%sredis.url is required when %sredis.mode is single" $w $w) $r.url }}
{{- if not (regexMatch "^rediss?://" $url) }}
{{- fail (printf "%sredis.url must start with redis:// or rediss:// (got %q)" $w $url) }}
{{- end }}
{{- if regexMatch "^rediss?://[^/@]*:[^/@]*@" $url }}
{{- fail (printf "%sredis.url must not carry a password: set %sredis.auth.enabled and put REDIS_PASSWORD in the Secret" $w $w) }}
{{- end }}
{{- /* ioredis reads its options from the query too: ?password= would put it in clear in the pod spec */}}
{{- if regexMatch "(?i)[?&](password|username)=" $url }}
{{- fail (printf "%sredis.url must not carry a password or username in its query (?password=, ?username=): set %sredis.auth.enabled and put REDIS_PASSWORD in the Secret, and the user in %sredis.username" $w $w $w) }}
{{- end }}
{{- if and $r.tls.enabled (not (hasPrefix "rediss://" $url)) }}
{{- fail (printf "%sredis.tls.enabled needs a rediss:// URL in %sredis.url" $w $w) }}
{{- end }}
- name: REDIS_URL
  value: {{ $url | quote }}
{{- else if eq $r.mode "cluster" }}
{{- if not $r.clusterNodes }}
{{- fail (printf "%sredis.clusterNodes is required when %sredis.mode is cluster" $w $w) }}
{{- end }}
- name: REDIS_CLUSTER_NODES
  value: {{ join "," $r.clusterNodes | quote }}
{{- if $r.tls.enabled }}
- name: REDIS_TLS
  value: "true"
{{- end }}
{{- end }}
{{- if ne $r.mode "none" }}
{{- if and $r.tls.caSecret (not $r.tls.enabled) }}
{{- fail (printf "%sredis.tls.caSecret needs %sredis.tls.enabled: a CA certificate is only used over TLS (set both, or neither)" $w $w) }}
{{- end }}
{{- with $r.username }}
- name: REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $r.auth.enabled }}
{{- if not $s }}
{{- fail (printf "%sredis.auth.enabled needs a Secret with REDIS_PASSWORD (%ssecrets.existingSecret)" $w $w) }}
{{- end }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s | quote }}
      key: REDIS_PASSWORD
{{- end }}
{{- if and $r.tls.enabled $r.tls.caSecret }}
- name: REDIS_TLS_CA_FILE
  value: {{ printf "/etc/ratewarden/tls/redis/%s" $r.tls.caKey | quote }}
{{- end }}
{{- end }}
{{- if $k.brokers }}
{{- if and $k.tls.caSecret (not $k.tls.enabled) }}
{{- fail (printf "%skafka.tls.caSecret needs %skafka.tls.enabled: a CA certificate is only used over TLS (set both, or neither)" $w $w) }}
{{- end }}
- name: KAFKA_BROKERS
  value: {{ join "," $k.brokers | quote }}
{{- if $k.tls.enabled }}
- name: KAFKA_SSL
  value: "true"
{{- if $k.tls.caSecret }}
- name: KAFKA_CA_FILE
  value: {{ printf "/etc/ratewarden/tls/kafka/%s" $k.tls.caKey | quote }}
{{- end }}
{{- end }}
{{- with $k.sasl.mechanism }}
{{- if not $s }}
{{- fail (printf "%skafka.sasl needs a Secret with KAFKA_SASL_PASSWORD (%ssecrets.existingSecret)" $w $w) }}
{{- end }}
- name: KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
- name: KAFKA_SASL_USERNAME
  value: {{ required (printf "%skafka.sasl.username is required with kafka.sasl.mechanism" $w) $k.sasl.username | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $s | quote }}
      key: KAFKA_SASL_PASSWORD
{{- end }}
{{- end }}
{{- with $k.eventsTopic }}
- name: RW_EVENTS_TOPIC
  value: {{ . | quote }}
{{- end }}
{{- if $s }}
- name: RW_HASH_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s | quote }}
      key: RW_HASH_KEY
      optional: {{ not .requireHashKey }}
{{- else if .requireHashKey }}
{{- fail (printf "%ssecrets.requireHashKey is set but there is no Secret to read RW_HASH_KEY from (%ssecrets.existingSecret)" $w $w) }}
{{- end }}
{{- with .jwtSecretEnv }}
{{- if not $s }}
{{- fail (printf "the policy reads its JWT secret from %s: set %ssecrets.existingSecret to a Secret holding %s" . $w .) }}
{{- end }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $s | quote }}
      key: {{ . }}
{{- end }}
{{- end -}}

{{/* Volumes for the TLS CA files named by connectionEnv. Argument: dict redis kafka */}}
{{- define "ratewarden-sidecar.tlsVolumes" -}}
{{- if and (ne .redis.mode "none") .redis.tls.enabled .redis.tls.caSecret }}
- name: rw-redis-ca
  secret:
    secretName: {{ .redis.tls.caSecret | quote }}
    items:
      - key: {{ .redis.tls.caKey | quote }}
        path: {{ .redis.tls.caKey | quote }}
{{- end }}
{{- if and .kafka.brokers .kafka.tls.enabled .kafka.tls.caSecret }}
- name: rw-kafka-ca
  secret:
    secretName: {{ .kafka.tls.caSecret | quote }}
    items:
      - key: {{ .kafka.tls.caKey | quote }}
        path: {{ .kafka.tls.caKey | quote }}
{{- end }}
{{- end -}}

{{- define "ratewarden-sidecar.tlsVolumeMounts" -}}
{{- if and (ne .redis.mode "none") .redis.tls.enabled .redis.tls.caSecret }}
- name: rw-redis-ca
  mountPath: /etc/ratewarden/tls/redis
  readOnly: true
{{- end }}
{{- if and .kafka.brokers .kafka.tls.enabled .kafka.tls.caSecret }}
- name: rw-kafka-ca
  mountPath: /etc/ratewarden/tls/kafka
  readOnly: true
{{- end }}
{{- end -}}

{{/*
The policy as text for a ConfigMap. Argument: the policy value (YAML object or string).
*/}}
{{- define "ratewarden-sidecar.policyText" -}}
{{- if kindIs "string" . -}}
{{- . -}}
{{- else if . -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/*
The policy as an object (to read store.kind and identity.jwt.secretEnv), as YAML; "{}" when unknown.
*/}}
{{- define "ratewarden-sidecar.policyObject" -}}
{{- if kindIs "string" . -}}
{{- $obj := fromYaml . -}}
{{- if hasKey $obj "Error" -}}
{{- fail (printf "the policy is not valid YAML: %s" (get $obj "Error")) -}}
{{- end -}}
{{- toYaml $obj -}}
{{- else if kindIs "map" . -}}
{{- toYaml . -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/*
Install-time checks that keep the policy and the connections consistent; renders the JWT secret
env name (explicit, else the policy's identity.jwt.secretEnv, else "").
The store's kind and failMode are checked here (the rest of the policy by the program, and by
`ratewarden check`): the charts read store.kind, and a misspelt one would skip the Redis check.
Argument: dict policy (object) redis explicitJwtEnv where
*/}}
{{- define "ratewarden-sidecar.checkPolicy" -}}
{{- $kind := "memory" -}}
{{- $store := get .policy "store" -}}
{{- if and (hasKey .policy "store") (not (kindIs "invalid" $store)) -}}
{{- if not (kindIs "map" $store) -}}
{{- fail (printf "%spolicy.store must be a map (store: { kind: memory, failMode: open }), not %s" .where (include "ratewarden-sidecar.describe" $store)) -}}
{{- end -}}
{{- range $field, $allowed := dict "kind" (list "memory" "redis") "failMode" (list "open" "closed") -}}
{{- if and (hasKey $store $field) (not (has (get $store $field) $allowed)) -}}
{{- fail (printf "%spolicy.store.%s must be one of %s (got %s)" $.where $field (join ", " $allowed) (include "ratewarden-sidecar.repr" (get $store $field))) -}}
{{- end -}}
{{- end -}}
{{- $kind = default "memory" $store.kind -}}
{{- end -}}
{{- if and (eq $kind "redis") (eq .redis.mode "none") -}}
{{- fail (printf "the policy has store.kind: redis but %sredis.mode is none: configure Redis or use store.kind: memory" .where) -}}
{{- end -}}
{{- default (dig "identity" "jwt" "secretEnv" "" .policy) .explicitJwtEnv -}}
{{- end -}}

{{/*
image reference: repository[:tag][@digest]; tag defaults to the chart's appVersion.
Argument: dict image appVersion where (values path prefix for messages, e.g. "ratewarden.").
A tag written as a YAML number (1.10, 20260101) reaches the template as a float — 1.1 and
2.0260101e+07 — and its text cannot be recovered, so it is refused: quote it.
*/}}
{{- define "ratewarden-sidecar.image" -}}
{{- range $field := list "tag" "digest" }}
{{- $value := get $.image $field }}
{{- if and (not (kindIs "invalid" $value)) (not (kindIs "string" $value)) }}
{{- fail (printf "%simage.%s must be a string, not %v (a %s): put it in quotes (%s: \"1.10\", not %s: 1.10, which YAML reads as the number 1.1) or use --set-string" $.where $field $value (kindOf $value) $field $field) }}
{{- end }}
{{- end }}
{{- $tag := default .appVersion .image.tag -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The container securityContext both programs run with: non-root, read-only root, no capabilities. */}}
{{- define "ratewarden-sidecar.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
