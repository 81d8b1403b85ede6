{{/*
Defaults of the sidecar values a service chart passes (its `ratewarden:` block). Every template
of this library merges the caller's values over these, so a service chart sets only what differs.
Keep in sync with helm/README.md "Sidecar values" (test/helm/injection.test.ts renders both) and
with the rules in _validate.tpl, which must declare every key here.
*/}}
{{- define "ratewarden-sidecar.defaults" -}}
enabled: true
image:
  repository: ratewarden/ratewarden
  tag: "0.1.0"   # the ratewarden release; kept equal to appVersion by test/helm/chart.test.ts
  digest: ""
  pullPolicy: IfNotPresent
# Port the application listens on inside the pod; the sidecar forwards to http://127.0.0.1:<port>.
upstreamPort: null
# Full upstream URL instead (e.g. https://127.0.0.1:8443); wins over upstreamPort.
upstream: ""
# The port the Service targets (named rw-proxy) and the admin port (named rw-admin, never on a Service).
listenPort: 8080
adminPort: 9091
# RW_SERVICE in events and load control; defaults to the including chart's name.
serviceName: ""
# The policy (YAML object or string) rendered into <name>-ratewarden-policy by
# ratewarden-sidecar.policyConfigMap, or the name of a ConfigMap that holds it.
policy: null
existingPolicyConfigMap: ""
policyKey: policy.yaml
# Roll the pods when the policy changes (otherwise the sidecar reloads the mounted file itself).
restartOnPolicyChange: false
# Seconds the sidecar drains in-flight requests after SIGTERM (RW_DRAIN_SECONDS); keep the pod's
# terminationGracePeriodSeconds above shutdownDelaySeconds + drainSeconds.
drainSeconds: 10
# Seconds between SIGTERM and the drain (RW_SHUTDOWN_DELAY): /readyz already answers 503 while the
# sidecar keeps serving, so connections that arrive before the endpoints update are not refused.
shutdownDelaySeconds: 5
# Connections the proxy listener holds open at most (RW_MAX_CONNECTIONS); past it a new one is
# closed at once and counted in ratewarden_connections_refused_total.
maxConnections: 10000
redis:
  # none | single | cluster
  mode: none
  url: ""
  clusterNodes: []
  username: ""
  auth:
    enabled: false
  tls:
    enabled: false
    caSecret: ""
    caKey: ca.crt
kafka:
  brokers: []
  eventsTopic: ""
  tls:
    enabled: false
    caSecret: ""
    caKey: ca.crt
  sasl:
    # "" | plain | scram-sha-256 | scram-sha-512
    mechanism: ""
    username: ""
secrets:
  # A Secret in the service's namespace holding RW_HASH_KEY, REDIS_PASSWORD, KAFKA_SASL_PASSWORD
  # and the JWT secret, under those names.
  existingSecret: ""
  # Fail at install when RW_HASH_KEY cannot be wired (and make the key mandatory in the Secret).
  requireHashKey: false
  # Env var holding the JWT secret; read from the policy's identity.jwt.secretEnv when empty.
  jwtSecretEnv: ""
resources:
  requests:
    cpu: 50m
    memory: 96Mi
  limits:
    memory: 256Mi
probes:
  startup:
    periodSeconds: 2
    timeoutSeconds: 2
    failureThreshold: 30
  liveness:
    periodSeconds: 10
    timeoutSeconds: 2
    failureThreshold: 3
  readiness:
    periodSeconds: 5
    timeoutSeconds: 2
    failureThreshold: 2
extraEnv: []
# Mounts of volumes your pod defines (e.g. the policy's identity.jwt.publicKeyFile).
extraVolumeMounts: []
networkPolicy:
  enabled: true
  # Peers allowed to reach the proxy port ([] = any source); the application's own ports are
  # closed to other pods, so nothing can bypass the sidecar.
  proxyFrom: []
  # Peers allowed to scrape the admin port (/metrics); [] closes it to every pod.
  adminFrom: []
  # Further ingress rules for the pod (NetworkPolicyIngressRule objects).
  extraIngress: []
podMonitor:
  # Needs the Prometheus Operator CRDs (monitoring.coreos.com/v1).
  enabled: false
  interval: 30s
  scrapeTimeout: 10s
  labels: {}
{{- end -}}

{{/*
The caller's values merged over the defaults and checked (_validate.tpl: unknown keys, types,
enums, ranges; the template fails naming each bad value), as YAML.
Use: fromYaml (include "ratewarden-sidecar.values" $vals)
(sprig's merge functions skip false/0/"" in the caller's values, so `enabled: false` would be lost;
mergeInto copies every value the caller set, maps recursively.)
*/}}
{{- define "ratewarden-sidecar.values" -}}
{{- if not (or (kindIs "map" .) (kindIs "invalid" .)) -}}
{{- fail (printf "invalid sidecar values: ratewarden must be a map of the sidecar's values, not %s" (include "ratewarden-sidecar.describe" .)) -}}
{{- end -}}
{{- $merged := fromYaml (include "ratewarden-sidecar.defaults" .) -}}
{{- include "ratewarden-sidecar.mergeInto" (dict "dst" $merged "src" (deepCopy (default (dict) .))) -}}
{{- include "ratewarden-sidecar.checkValues" $merged -}}
{{- toYaml $merged -}}
{{- end -}}

{{- define "ratewarden-sidecar.mergeInto" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "ratewarden-sidecar.mergeInto" (dict "dst" (get $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}
