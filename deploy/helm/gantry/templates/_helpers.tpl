{{/* The name prefix of every object: the release name (gantry-api, gantry-release-worker, … for a release named gantry). */}}
{{- define "gantry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gantry.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gantry.labels" -}}
{{ include "gantry.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* image.repository has no default: Gantry publishes no image. */}}
{{- define "gantry.repository" -}}
{{- required "image.repository is required: Gantry publishes no image. Build it (README \"Gantry's image\"), push it to your registry and set it, e.g. --set image.repository=registry.example.com/gantry" .Values.image.repository -}}
{{- end -}}

{{- define "gantry.image" -}}
{{- $repo := include "gantry.repository" . -}}
{{- if .Values.image.digest -}}{{ $repo }}@{{ .Values.image.digest }}{{- else -}}{{ $repo }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}
{{- end -}}

{{- define "gantry.buildWorkerImage" -}}
{{- $repo := .Values.buildWorker.image.repository | default (include "gantry.repository" .) -}}
{{- if .Values.buildWorker.image.digest -}}{{ $repo }}@{{ .Values.buildWorker.image.digest }}
{{- else -}}{{ $repo }}:{{ .Values.buildWorker.image.tag | default (printf "%s-build-worker" (.Values.image.tag | default .Chart.AppVersion)) }}{{- end -}}
{{- end -}}

{{- define "gantry.secretName" -}}
{{- .name | default (printf "%s-%s" (include "gantry.fullname" .root) .suffix) -}}
{{- end -}}

{{/* The same pod and container security settings for every Gantry process (PSS `restricted`). */}}
{{- define "gantry.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "gantry.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: [ALL] }
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{/* Probes on a named port: /healthz for startup and liveness, /readyz for readiness. */}}
{{- define "gantry.probes" -}}
startupProbe:
  httpGet: { path: /healthz, port: {{ . }} }
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: { path: /healthz, port: {{ . }} }
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: { path: /readyz, port: {{ . }} }
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* envFrom shared by every process: the settings, and the optional Temporal Secret. */}}
{{- define "gantry.envFrom" -}}
- configMapRef: { name: {{ include "gantry.fullname" . }}-env }
- secretRef: { name: {{ include "gantry.secretName" (dict "root" . "name" .Values.temporal.secretName "suffix" "temporal") }}, optional: true }
{{- end -}}

{{/* defaultMode 288 is octal 0440, in decimal so YAML 1.1 and 1.2 parsers agree. */}}
{{- define "gantry.temporalTlsVolume" -}}
- name: temporal-tls
  secret: { secretName: {{ include "gantry.secretName" (dict "root" . "name" .Values.temporal.tls.secretName "suffix" "temporal-tls") }}, optional: true, defaultMode: 288 }
{{- end -}}

{{- define "gantry.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The release worker's rules: deploy/rbac/namespaced/role.yaml (each rule's reasons are there).
test/deploy/install.test.ts checks that these equal deploy/rbac's, for both modes.
*/}}
{{- define "gantry.releaseWorkerRules" -}}
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, patch]
- apiGroups: [""]
  resources: [services]
  verbs: [list, create, patch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, create, patch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes]
  verbs: [get, create, patch]
{{- end -}}

{{/* Cluster mode adds what creating a namespace needs (deploy/rbac/cluster/clusterrole.yaml). */}}
{{- define "gantry.clusterOnlyRules" -}}
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get]
{{- end -}}
