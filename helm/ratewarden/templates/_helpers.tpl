{{- define "ratewarden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ratewarden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ratewarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ratewarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: analyzer
{{- end -}}

{{- define "ratewarden.labels" -}}
{{ include "ratewarden.selectorLabels" . }}
app.kubernetes.io/part-of: ratewarden
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 }}
{{- end -}}

{{- define "ratewarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ratewarden.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret the analyzer (and same-namespace sidecars) read: existingSecret or the chart's own. */}}
{{- define "ratewarden.secretName" -}}
{{- default (include "ratewarden.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "ratewarden.policyConfigMapName" -}}
{{- default (printf "%s-policy" (include "ratewarden.fullname" .) | trunc 63 | trimSuffix "-") .Values.existingPolicyConfigMap -}}
{{- end -}}

{{/* The policy as an object ("{}" with existingPolicyConfigMap, which the chart cannot read). */}}
{{- define "ratewarden.policyObject" -}}
{{- if .Values.existingPolicyConfigMap -}}
{}
{{- else -}}
{{- include "ratewarden-sidecar.policyObject" (required "policy is required (or existingPolicyConfigMap)" .Values.policy) -}}
{{- end -}}
{{- end -}}
