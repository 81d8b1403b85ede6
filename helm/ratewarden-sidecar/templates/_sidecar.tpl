{{/*
Sidecar injection for a service's own chart. Every template takes one dict:
  values          the service chart's `ratewarden:` values (merged over _defaults.tpl)
  name            the service's fullname (names the policy ConfigMap, NetworkPolicy, PodMonitor;
                  default RW_SERVICE)
  context         the root context ($), for .Release and .Chart
  selectorLabels  the pod selector labels (networkPolicy, podMonitor only)
  fallback        the targetPort to use when the sidecar is disabled (targetPort only)
See helm/README.md "Injecting the sidecar" and helm/example-service for a complete chart.
*/}}

{{/* The sidecar container, as one item of a pod's `containers:` list (nothing when disabled). */}}
{{- define "ratewarden-sidecar.container" -}}
{{- include "ratewarden-sidecar.containerItem" . | trim -}}
{{- end -}}

{{- define "ratewarden-sidecar.containerItem" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if $v.enabled }}
{{- $policy := fromYaml (include "ratewarden-sidecar.policyObject" $v.policy) -}}
{{- $jwtEnv := include "ratewarden-sidecar.checkPolicy" (dict "policy" $policy "redis" $v.redis "explicitJwtEnv" $v.secrets.jwtSecretEnv "where" "ratewarden.") -}}
{{- if not (or $v.policy $v.existingPolicyConfigMap) }}
{{- fail "ratewarden.policy (or ratewarden.existingPolicyConfigMap) is required: the sidecar enforces that policy" }}
{{- end }}
{{- /* the application's port in this pod ($appPort, 0 when the upstream is another host) and how
       the values name it ($appWhat), for the checks that every port the pod binds differs */}}
{{- $upstream := $v.upstream }}
{{- $appPort := 0 }}
{{- $appWhat := "ratewarden.upstreamPort" }}
{{- if $upstream }}
{{- if not (regexMatch "^https?://[^/?#]+" $upstream) }}
{{- fail (printf "ratewarden.upstream must be an http:// or https:// URL, e.g. http://127.0.0.1:3000 (got %q)" $upstream) }}
{{- end }}
{{- $hostPort := get (urlParse $upstream) "host" }}
{{- $port := trimPrefix ":" (regexFind ":[0-9]+$" $hostPort) }}
{{- $host := trimSuffix "]" (trimPrefix "[" (trimSuffix (printf ":%s" $port) $hostPort)) }}
{{- if regexMatch "^(?i)(localhost|127\\.[0-9]+\\.[0-9]+\\.[0-9]+|::1|0\\.0\\.0\\.0)$" $host }}
{{- $appPort = int (default (ternary "443" "80" (hasPrefix "https://" $upstream)) $port) }}
{{- $appWhat = printf "the port of ratewarden.upstream (%s)" $upstream }}
{{- end }}
{{- else }}
{{- $appPort = int (required "ratewarden.upstreamPort (the port your application listens on in the pod) is required" $v.upstreamPort) }}
{{- $upstream = printf "http://127.0.0.1:%d" $appPort }}
{{- end }}
{{- if and $appPort (eq $appPort (int $v.listenPort)) }}
{{- fail (printf "ratewarden.listenPort (%d) must differ from %s, the application's port" (int $v.listenPort) $appWhat) }}
{{- end }}
{{- if and $appPort (eq $appPort (int $v.adminPort)) }}
{{- fail (printf "ratewarden.adminPort (%d) must differ from %s, the application's port: both are bound in the same pod" (int $v.adminPort) $appWhat) }}
{{- end }}
{{- if eq (int $v.adminPort) (int $v.listenPort) }}
{{- fail "ratewarden.adminPort must differ from ratewarden.listenPort" }}
{{- end }}
- name: ratewarden
  image: {{ include "ratewarden-sidecar.image" (dict "image" $v.image "appVersion" "0.1.0" "where" "ratewarden.") | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args:
    - sidecar
    - --config
    - {{ printf "/etc/ratewarden/policy/%s" $v.policyKey | quote }}
    - --upstream
    - {{ $upstream | quote }}
    - --listen
    - {{ printf "0.0.0.0:%d" (int $v.listenPort) | quote }}
    {{- /* 0.0.0.0, not the loopback default: kubelet probes come from the node. The port is on
           no Service and ratewarden-sidecar.networkPolicy closes it to pods not in adminFrom. */}}
    - --admin
    - {{ printf "0.0.0.0:%d" (int $v.adminPort) | quote }}
  ports:
    - name: rw-proxy
      containerPort: {{ int $v.listenPort }}
      protocol: TCP
    - name: rw-admin
      containerPort: {{ int $v.adminPort }}
      protocol: TCP
  env:
    - name: RW_POD
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: RW_SERVICE
      value: {{ default .name $v.serviceName | quote }}
    - name: RW_DRAIN_SECONDS
      value: {{ $v.drainSeconds | toString | quote }}
    - name: RW_SHUTDOWN_DELAY
      value: {{ $v.shutdownDelaySeconds | toString | quote }}
    - name: RW_MAX_CONNECTIONS
      value: {{ $v.maxConnections | toString | quote }}
    {{- with include "ratewarden-sidecar.connectionEnv" (dict "redis" $v.redis "kafka" $v.kafka "secretName" $v.secrets.existingSecret "requireHashKey" $v.secrets.requireHashKey "jwtSecretEnv" $jwtEnv "where" "ratewarden.") | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $v.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  startupProbe:
    httpGet:
      path: /healthz
      port: rw-admin
    {{- toYaml $v.probes.startup | nindent 4 }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: rw-admin
    {{- toYaml $v.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: rw-admin
    {{- toYaml $v.probes.readiness | nindent 4 }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- include "ratewarden-sidecar.securityContext" . | nindent 4 }}
  volumeMounts:
    - name: rw-policy
      mountPath: /etc/ratewarden/policy
      readOnly: true
    - name: rw-tmp
      mountPath: /tmp
    {{- with include "ratewarden-sidecar.tlsVolumeMounts" $v | trim }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* The sidecar's volumes, as items of a pod's `volumes:` list (nothing when disabled). */}}
{{- define "ratewarden-sidecar.volumes" -}}
{{- include "ratewarden-sidecar.volumeItems" . | trim -}}
{{- end -}}

{{- define "ratewarden-sidecar.volumeItems" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if $v.enabled }}
- name: rw-policy
  configMap:
    name: {{ default (include "ratewarden-sidecar.policyConfigMapName" .) $v.existingPolicyConfigMap | quote }}
    items:
      - key: {{ $v.policyKey | quote }}
        path: {{ $v.policyKey | quote }}
- name: rw-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- include "ratewarden-sidecar.tlsVolumes" $v }}
{{- end }}
{{- end -}}

{{/* The Service's targetPort: the sidecar's proxy port, or `fallback` when the sidecar is disabled. */}}
{{- define "ratewarden-sidecar.targetPort" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if $v.enabled -}}
rw-proxy
{{- else -}}
{{- .fallback -}}
{{- end -}}
{{- end -}}

{{/* Pod annotations (map entries): marks injected pods; a policy checksum when restartOnPolicyChange. */}}
{{- define "ratewarden-sidecar.podAnnotations" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if $v.enabled }}
ratewarden.io/sidecar: "injected"
{{- if and $v.restartOnPolicyChange $v.policy }}
ratewarden.io/policy-checksum: {{ include "ratewarden-sidecar.policyText" $v.policy | sha256sum | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "ratewarden-sidecar.policyConfigMapName" -}}
{{- printf "%s-ratewarden-policy" .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ratewarden-sidecar.labels" -}}
app.kubernetes.io/name: ratewarden-sidecar
app.kubernetes.io/instance: {{ .context.Release.Name | quote }}
app.kubernetes.io/part-of: ratewarden
app.kubernetes.io/component: sidecar
app.kubernetes.io/managed-by: {{ .context.Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .context.Chart.Name .context.Chart.Version | replace "+" "_" | trunc 63 | quote }}
{{- end -}}

{{/* The policy ConfigMap the sidecar mounts (a whole document; nothing when an existing one is used). */}}
{{- define "ratewarden-sidecar.policyConfigMap" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if and $v.enabled $v.policy (not $v.existingPolicyConfigMap) }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "ratewarden-sidecar.policyConfigMapName" . | quote }}
  labels:
    {{- include "ratewarden-sidecar.labels" . | nindent 4 }}
data:
  {{ $v.policyKey }}: |
    {{- include "ratewarden-sidecar.policyText" $v.policy | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
NetworkPolicy for the service's pods: only the sidecar's proxy port (from proxyFrom, default any)
and its admin port (from adminFrom only) are open, so no pod can reach the application's own port
and bypass the limits. kubelet probes come from the node, which NetworkPolicy implementations allow.
*/}}
{{- define "ratewarden-sidecar.networkPolicy" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if and $v.enabled $v.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-ratewarden" .name | trunc 63 | trimSuffix "-" | quote }}
  labels:
    {{- include "ratewarden-sidecar.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- toYaml (required "selectorLabels is required" .selectorLabels) | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    - ports:
        - port: {{ int $v.listenPort }}
          protocol: TCP
      {{- with $v.networkPolicy.proxyFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- with $v.networkPolicy.adminFrom }}
    - ports:
        - port: {{ int $v.adminPort }}
          protocol: TCP
      from:
        {{- toYaml . | nindent 8 }}
    {{- end }}
    {{- with $v.networkPolicy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* PodMonitor scraping the sidecars' admin port (/metrics); needs the Prometheus Operator CRDs. */}}
{{- define "ratewarden-sidecar.podMonitor" -}}
{{- $v := fromYaml (include "ratewarden-sidecar.values" .values) -}}
{{- if and $v.enabled $v.podMonitor.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata:
  name: {{ printf "%s-ratewarden" .name | trunc 63 | trimSuffix "-" | quote }}
  labels:
    {{- include "ratewarden-sidecar.labels" . | nindent 4 }}
    {{- with $v.podMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- toYaml (required "selectorLabels is required" .selectorLabels) | nindent 6 }}
  podMetricsEndpoints:
    - port: rw-admin
      path: /metrics
      interval: {{ $v.podMonitor.interval | quote }}
      scrapeTimeout: {{ $v.podMonitor.scrapeTimeout | quote }}
{{- end }}
{{- end -}}
